"""A CSC-shaped sky for the replay server, made from the demo simulator: enough sources to run the whole spectra
study on ``source: csc``.

:func:`write_sky` writes ``catalog.json`` (master-source rows in the CSC's units: fluxes in erg/cm2/s, N_H in
1e20 cm^-2; named ``2CXO Jhhmmss.s+ddmmss``; each with one ACIS observation carrying the per-observation
``src_cnts_aper_b`` and ``var_index_b``, a SIMBAD otype and bibcodes), ``abstracts.json`` (the demo papers, source ids replaced by the CSC names) and ``spectra.npz``
(each observation's 1024-channel PI counts: the demo's counts spread over the PI channels of each demo
channel, so rebinning onto the demo grid gives them back exactly).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fakes.csc_replay import PI_KEV

OTYPES = {"agn": ["AGN", "Sy1", "Sy2", "QSO"], "xrb_hard": ["LXB", "HXB"], "xrb_soft": ["LXB", "HXB"], "ulx": ["ULX"],
          "pulsar": ["Psr"], "cluster": ["ClG"], "star": ["*", "RS*", "Y*O"], "cv": ["CV*"], "snr": ["SNR"]}
LINEAR = ("flux_aper_b", "flux_aper_s", "flux_aper_m", "flux_aper_h", "src_cnts_aper_b")


def csc_name(ra: float, dec: float) -> str:
    """A CSC-style master-source name for demo source ``i``."""
    h, rem = divmod(ra / 15.0 * 3600.0, 3600.0)
    m, s = divmod(rem, 60.0)
    sign, d = ("+" if dec >= 0 else "-"), abs(dec) * 3600.0
    dd, rem = divmod(d, 3600.0)
    dm, ds = divmod(rem, 60.0)
    return f"2CXO J{int(h):02d}{int(m):02d}{s:04.1f}{sign}{int(dd):02d}{int(dm):02d}{int(ds):02d}"


def _positions(n: int, ra0: float, dec0: float, radius: float, rng) -> np.ndarray:
    """n positions in the cone, at least 10 arcsec apart (one SIMBAD object per source)."""
    out: list[tuple[float, float]] = []
    while len(out) < n:
        r, t = radius * np.sqrt(rng.uniform()) * 0.95, rng.uniform(0, 2 * np.pi)
        ra, dec = ra0 + r * np.cos(t) / np.cos(np.radians(dec0)), dec0 + r * np.sin(t)
        if all(np.hypot((ra - a) * np.cos(np.radians(dec0)), dec - b) > 10 / 3600 for a, b in out):
            out.append((ra, dec))
    return np.array(out)


def _pi_counts(counts: np.ndarray, resp, rng) -> np.ndarray:
    e = (np.arange(1, 1025) - 0.5) * PI_KEV
    out = np.zeros(1024, np.int64)
    for j, c in enumerate(counts):
        idx = np.flatnonzero((e >= resp.ch_lo[j]) & (e < resp.ch_hi[j]))
        out[idx] += rng.multinomial(int(c), np.full(len(idx), 1.0 / len(idx)))
    return out


def write_sky(folder: Path, n_sources: int, seed: int, ra0: float, dec0: float, radius: float) -> dict[str, dict]:
    """Write the sky's catalog.json, abstracts.json and spectra.npz into ``folder``. Returns, per CSC name, the
    truth: its demo ``class``, SIMBAD ``otype``, ``counts`` on the demo channel grid and ``n_papers``."""
    from skytext.core.config import defaults
    from skytext.sources import xray_demo as X
    from skytext.sources import xray_papers as XP
    from skytext.sources.ogip import load_response

    root = Path(__file__).resolve().parents[2]
    cfg = {**defaults("spectra.demo"), "n_sources": n_sources, "n_corrupt": 0}
    resp = load_response(root / "resources" / "spectra", defaults("spectra")["n_channels"])
    sky = X.simulate(cfg, seed, resp)
    papers, links = XP.papers(sky.catalog, cfg, seed)
    rng = np.random.default_rng([seed, 99])
    pos = _positions(n_sources, ra0, dec0, radius, rng)
    names = {sid: csc_name(*pos[i]) for i, sid in enumerate(sky.catalog["source_id"])}
    bib = {t: f"{2000 + i % 25}ApJ..{i:08d}A" for i, t in enumerate(papers["text_id"])}
    by_src = links.groupby("source_id")["text_id"].apply(list).to_dict()
    rows, spectra, truth = [], {}, {}
    for i, r in sky.catalog.iterrows():
        counts = X.observe(sky, int(i), seed)
        meas = X.measured(counts, sky.background, resp)
        row = {"name": names[r["source_id"]], "ra": float(pos[i][0]), "dec": float(pos[i][1])}
        for c in ("significance", "hard_hm", "hard_ms", "src_cnts_aper_b", "flux_aper_b", "flux_aper_s", "flux_aper_m",
                  "flux_aper_h", "powlaw_gamma", "powlaw_nh", "bb_kt", "brems_kt", "apec_kt", "var_index_b"):
            v = meas[c] if c in meas else r.get(c)
            v = None if v is None or not np.isfinite(v) else float(v)
            if v is not None and c in LINEAR:
                v = 10 ** v
            if v is not None and c == "powlaw_nh":
                v = 10 ** v / 1e20
            row[c] = v
        obs = {"obsid": 4000 + int(i), "obi": 0, "region_id": 1 + int(i) % 97, "instrument": "ACIS",
               "match_type": "u", "src_cnts_aper_b": row.pop("src_cnts_aper_b"), "var_index_b": row["var_index_b"]}
        row["var_inter_index_b"] = row.pop("var_index_b")  # per observation in the CSC 2.1; master has inter/intra
        unknown = rng.uniform() < 0.15  # an X-ray source SIMBAD knows only as "X": class unknown
        row.update(observations=[obs], bibcodes=[bib[t] for t in by_src.get(r["source_id"], [])],
                   otype="X" if unknown else str(rng.choice(OTYPES[r["true_class"]])))
        rows.append(row)
        spectra[f"{obs['obsid']}_{obs['region_id']}"] = _pi_counts(counts, resp, rng)
        truth[row["name"]] = {"class": r["true_class"], "otype": row["otype"], "counts": counts,
                              "n_papers": len(row["bibcodes"])}
    abstracts = {}
    for p in papers.itertuples():
        text = str(p.abstract)
        for sid in [s for s, ts in by_src.items() if p.text_id in ts]:
            text = text.replace(sid, names[sid])
        abstracts[bib[p.text_id]] = text
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.json").write_text(json.dumps(rows))
    (folder / "abstracts.json").write_text(json.dumps(abstracts))
    np.savez_compressed(folder / "spectra.npz", **spectra)
    return truth
