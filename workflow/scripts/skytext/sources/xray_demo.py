"""The offline demo X-ray sky (source ``demo`` of the spectra study), seeded.

Nine source classes with checkable physics (absorbed power laws, disk blackbodies, blackbodies,
bremsstrahlung with the Fe K line at 6.7/(1+z) keV, thermal plasmas with lines), folded through the toy
response of ``resources/spectra/`` into counts over 0.5-8 keV with background and Poisson noise, written as
OGIP PHA files. A catalogue of 21 variables named after Chandra Source Catalog master-source columns where
one exists (log10 where the CSC value spans decades: fluxes, counts, N_H, distance, luminosity, period).
Papers: 0..N individual texts per source and population texts about 5-15 sources of a class, mentioning
class, physics and some measured values in varied phrasings among distractors. Rare planted outliers (a
pulsating ULX, a lensed quasar with anomalous flux ratios, a mislabelled class) carry ground truth.

:func:`simulate` is deterministic in (config, seed): the catalogue rule and every spectrum shard call it
and agree without talking to each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.core.sharding import in_shard
from skytext.sources.ogip import Response, write_pha
from skytext.sources.xray_papers import gt_attrs

CLASSES = {"agn": 0.2, "xrb_hard": 0.1, "xrb_soft": 0.1, "ulx": 0.09, "pulsar": 0.1, "cluster": 0.1,
           "star": 0.12, "cv": 0.09, "snr": 0.1}
VARIABLES = ("flux_aper_b", "flux_aper_s", "flux_aper_m", "flux_aper_h", "hard_hm", "hard_ms", "src_cnts_aper_b",
             "significance", "powlaw_gamma", "powlaw_nh", "bb_kt", "brems_kt", "apec_kt", "diskbb_kt",
             "var_index_b", "redshift", "distance", "lum_b", "fe_line_eqw", "period", "gal_b")
BANDS = {"b": (0.5, 7.0), "s": (0.5, 1.2), "m": (1.2, 2.0), "h": (2.0, 7.0)}
OUTLIER_TYPES = ("pulsating_ulx", "lensed_quasar", "mislabelled")
KEV_ERG = 1.602e-9
FLUX_FLOOR = 1e-18  # erg/cm2/s
EXTRAGALACTIC = {"agn", "cluster", "ulx"}


@dataclass
class Sky:
    """The simulated sky: catalogue, expected source counts per channel, background per channel."""

    catalog: pd.DataFrame  # source_id, class (label), true_class, outlier_type, is_outlier, variables...
    expected: np.ndarray  # [n, channels] expected source counts
    background: np.ndarray  # [channels] expected background counts


# ------------------------------------------------------------------------------------------- spectra
def _absorb(e, log_nh):
    return np.exp(-(10.0 ** log_nh) * 2.0e-22 * e ** (-8.0 / 3.0))


def _line(e, centre, width=0.04):
    return np.exp(-0.5 * ((e - centre) / width) ** 2) / (np.sqrt(2 * np.pi) * width)


def _thermal(e, kt, lines):
    """Bremsstrahlung-like continuum plus Gaussian lines (centre keV, equivalent width keV)."""
    cont = e ** -1.2 * np.exp(-e / kt)
    out = cont.copy()
    for centre, eqw in lines:
        out = out + eqw * np.interp(centre, e, cont) * _line(e, centre)
    return out


def _plasma_lines(kt, boost=1.0):
    """Line list of a collisional plasma: Fe L and O at low kT, Si/S at mid, Fe XXV at high kT."""
    cool = np.exp(-kt / 0.8)
    return [(0.65, 0.15 * cool * boost), (0.92, 0.3 * cool * boost), (1.02, 0.12 * cool * boost),
            (1.86, 0.15 * boost * np.exp(-abs(np.log(kt / 0.9)))), (2.45, 0.1 * boost * np.exp(-abs(np.log(kt / 1.2)))),
            (6.7, 0.4 * boost * (1 - np.exp(-kt / 3.0)))]


def photon_model(e: np.ndarray, p: dict) -> np.ndarray:
    """Unnormalised photon flux density of a source with parameters ``p`` on energies ``e`` (keV)."""
    c = p["true_class"]
    if c == "agn" and np.isfinite(p.get("lens_nh", np.nan)):
        # a lensed quasar: two images seen through different columns (one through the lensing galaxy)
        return e ** -p["powlaw_gamma"] * (0.5 * _absorb(e, p["powlaw_nh"]) + 0.5 * _absorb(e, p["lens_nh"]))
    if c == "agn":
        pl = e ** -p["powlaw_gamma"]
        f = pl + p["fe_line_eqw"] * np.interp(6.4 / (1 + p["redshift"]), e, pl) * _line(e, 6.4 / (1 + p["redshift"]), 0.06)
    elif c == "xrb_hard":
        f = e ** -p["powlaw_gamma"]
    elif c == "xrb_soft":
        disk = e ** (-2 / 3) * np.exp(-e / p["diskbb_kt"])
        f = disk / disk.max() + p["pl_frac"] * e ** -p["powlaw_gamma"]
    elif c == "ulx":
        disk = e ** (-2 / 3) * np.exp(-e / p["diskbb_kt"])
        f = 0.3 * disk / disk.max() + e ** -p["powlaw_gamma"] * np.exp(-e / p["ecut"])
    elif c == "pulsar":
        bb = e ** 2 / np.expm1(np.minimum(e / p["bb_kt"], 700))
        f = bb / bb.max() + 0.15 * e ** -p["powlaw_gamma"]
    elif c == "cluster":
        z = p["redshift"]
        f = _thermal(e * (1 + z), p["brems_kt"], [(6.7, p["fe_line_eqw"])])
    elif c == "star":
        f = _thermal(e, p["apec_kt"], _plasma_lines(p["apec_kt"]))
    elif c == "cv":  # cool plasma plus the hot accretion column (kT ~ 15 keV) with a strong Fe XXV line
        f = _thermal(e, p["apec_kt"], _plasma_lines(p["apec_kt"])) + 0.3 * _thermal(e, 15.0, [(6.7, p["fe_line_eqw"])])
    elif c == "snr":
        f = _thermal(e, p["apec_kt"], _plasma_lines(p["apec_kt"], boost=3.0))
    else:
        raise ValueError(f"unknown class {c!r}")
    return f * _absorb(e, p["powlaw_nh"])


# ----------------------------------------------------------------------------------------- parameters
def _draw_params(c: str, rng: np.random.Generator) -> dict:
    u = rng.uniform
    nan = float("nan")
    p = {k: nan for k in ("powlaw_gamma", "bb_kt", "brems_kt", "apec_kt", "diskbb_kt", "redshift", "distance",
                          "fe_line_eqw", "period")}
    p.update(true_class=c, pl_frac=nan, ecut=nan, lens_nh=nan)
    if c == "agn":
        p.update(powlaw_gamma=u(1.7, 2.2), powlaw_nh=u(20, 24), redshift=10 ** u(-1.7, 0.4), fe_line_eqw=u(0.1, 0.3),
                 var=u(0, 6))
    elif c == "xrb_hard":
        p.update(powlaw_gamma=u(1.3, 1.7), powlaw_nh=u(21.5, 22.7), distance=u(0.3, 1.0), var=u(4, 10))
    elif c == "xrb_soft":
        p.update(diskbb_kt=u(0.8, 2.0), powlaw_gamma=u(2.2, 3.0), pl_frac=u(0.05, 0.2), powlaw_nh=u(21.5, 22.5),
                 distance=u(0.3, 1.0), var=u(3, 9))
    elif c == "ulx":
        p.update(diskbb_kt=u(0.15, 0.3), powlaw_gamma=u(1.0, 1.5), ecut=u(3, 6), powlaw_nh=u(20.5, 21.3),
                 distance=u(3.5, 4.3), var=u(2, 8))
    elif c == "pulsar":
        p.update(bb_kt=u(0.1, 0.3), powlaw_gamma=u(1.0, 1.4), powlaw_nh=u(20.3, 21.3), distance=u(-0.7, 0.7),
                 period=u(-2.5, 1.0), var=u(0, 3))
    elif c == "cluster":
        p.update(brems_kt=u(2, 10), redshift=u(0.02, 0.6), powlaw_nh=u(20, 21), fe_line_eqw=u(0.3, 0.8), var=0.0)
    elif c == "star":
        p.update(apec_kt=u(0.2, 0.8), powlaw_nh=u(19.5, 20.7), distance=u(-2, -0.3), var=u(3, 10))
    elif c == "cv":
        p.update(apec_kt=u(1.0, 2.0), fe_line_eqw=u(0.5, 1.2), powlaw_nh=u(20, 21.5), distance=u(-1, 0.3), var=u(4, 10))
    elif c == "snr":
        p.update(apec_kt=u(0.3, 1.5), powlaw_nh=u(21.5, 22.5), distance=u(0, 1.0), var=0.0)
    p["var_index_b"] = float(np.round(p.pop("var")))
    galactic = c not in EXTRAGALACTIC
    p["gal_b"] = float(rng.normal(0, 4) if c in ("xrb_hard", "xrb_soft", "pulsar", "snr") else
                       np.degrees(np.arcsin(u(-1, 1))) if galactic else
                       np.sign(u(-1, 1)) * np.degrees(np.arcsin(u(0.2, 1))))
    return p


def _luminosity_distance_cm(p: dict) -> float:
    if np.isfinite(p["redshift"]):
        z = p["redshift"]
        return 4283.0 * z * (1 + z / 2) * 3.086e24  # Mpc (c/H0 = 4283 Mpc) -> cm
    return 10 ** p["distance"] * 3.086e21  # kpc -> cm


def _plant_outlier(kind: str, p: dict, rng: np.random.Generator) -> str:
    """Turn a source into a planted outlier; returns the class label the catalogue shows."""
    if kind == "pulsating_ulx":
        p["period"] = rng.uniform(-0.3, 0.3)
        return "ulx"
    if kind == "lensed_quasar":
        p["redshift"] = rng.uniform(1.0, 2.5)
        p["powlaw_nh"], p["lens_nh"] = rng.uniform(20, 20.7), rng.uniform(22.7, 23.3)
        return "agn"
    choices = [c for c in CLASSES if c != p["true_class"]]
    return str(rng.choice(choices))


def _log_flux(flux: float) -> float:
    """log10 of a band's model flux (erg/cm2/s); NaN below FLUX_FLOOR, far under any Chandra detection (a
    heavily absorbed source's soft band): the catalogue leaves such a band empty instead of a -30 that would
    dominate the variable's variance."""
    return float(np.log10(flux)) if flux >= FLUX_FLOOR else np.nan


def simulate(cfg: dict, seed: int, resp: Response) -> Sky:
    """The whole demo sky: catalogue (physical variables) and expected counts of every source."""
    rng = np.random.default_rng([seed, 14])
    n = cfg["n_sources"]
    classes = rng.choice(list(CLASSES), size=n, p=np.array(list(CLASSES.values())) / sum(CLASSES.values()))
    n_out = int(round(cfg["outlier_fraction"] * n))
    kinds = {int(i): OUTLIER_TYPES[j % 3] for j, i in enumerate(rng.choice(n, size=n_out, replace=False))}
    for i, kind in kinds.items():  # the outlier kinds need particular spectra
        classes[i] = {"pulsating_ulx": "ulx", "lensed_quasar": "agn"}.get(kind, "star" if i % 2 else "cluster")
    rows, expected = [], np.zeros((n, len(resp.ch_lo)))
    e = resp.e_mid
    for i, c in enumerate(classes):
        p = _draw_params(str(c), rng)
        kind = kinds.get(i, "")
        label = _plant_outlier(kind, p, rng) if kind else str(c)
        shape = photon_model(e, p)
        folded = resp.fold(shape)
        lo = np.log10(max(cfg["min_counts"], 300.0) if kind else cfg["min_counts"])  # famous oddities are bright
        counts = 10 ** rng.uniform(min(lo, np.log10(cfg["max_counts"])), np.log10(cfg["max_counts"]))
        norm = counts / folded.sum()
        expected[i] = folded * norm
        flux = {b: _log_flux(norm * np.sum((shape * e * resp.de)[(e >= lo) & (e < hi)]) * KEV_ERG)
                for b, (lo, hi) in BANDS.items()}
        d = _luminosity_distance_cm(p)
        mean_energy = float((resp.ch_mid * folded).sum() / folded.sum())
        rows.append({"source_id": f"DX{seed % 1000:03d}-{i:05d}", "class": label, "true_class": str(c),
                     "outlier_type": kind, "is_outlier": bool(kind), **{f"flux_aper_{b}": v for b, v in flux.items()},
                     "lum_b": flux["b"] + np.log10(4 * np.pi * d ** 2), "expected_counts": counts,
                     "mean_energy": mean_energy,
                     **{k: v for k, v in p.items() if k in VARIABLES}, "ecut": p["ecut"]})
    cat = pd.DataFrame(rows)
    background = np.full(len(resp.ch_lo), cfg["background_counts"] / len(resp.ch_lo))
    background *= np.linspace(0.6, 1.4, len(background)) / np.linspace(0.6, 1.4, len(background)).mean()
    return Sky(cat, expected, background)


# ------------------------------------------------------------------------------------ measured columns
def measured(counts: np.ndarray, background: np.ndarray, resp: Response) -> dict:
    """Catalogue columns measured from one observed counts spectrum (hardness, counts, significance)."""
    mid = resp.ch_mid
    band = {b: float(counts[(mid >= lo) & (mid < hi)].sum() - background[(mid >= lo) & (mid < hi)].sum())
            for b, (lo, hi) in BANDS.items()}
    s, m, h = (max(band[b], 0.0) for b in "smh")
    net = max(band["b"], 0.0)
    return {"hard_hm": (h - m) / (h + m) if h + m > 0 else 0.0, "hard_ms": (m - s) / (m + s) if m + s > 0 else 0.0,
            "src_cnts_aper_b": float(np.log10(net + 1.0)), "significance": net / np.sqrt(counts.sum() + 1.0)}


def observe(sky: Sky, index: int, seed: int) -> np.ndarray:
    """Observed counts (source + background, Poisson) of source ``index``: seeded per source."""
    rng = np.random.default_rng([seed, 15, index])
    return rng.poisson(sky.expected[index] + sky.background).astype(np.int32)



# ------------------------------------------------------------------------------------ acquisition
CORRUPTIONS = ("truncated_pha", "no_counts", "wrong_channels", "not_ogip")


def corrupt_plan(cat: pd.DataFrame, n_corrupt: int) -> dict[str, str]:
    """source_id -> planted defect, on the last non-outlier sources (bad inputs the dataset must reject)."""
    ok = cat.loc[~cat["is_outlier"], "source_id"].tolist()[::-1][:n_corrupt]
    return {sid: CORRUPTIONS[i % len(CORRUPTIONS)] for i, sid in enumerate(ok)}


def _write_corrupt(path, counts, exposure, kind: str) -> None:
    if kind == "no_counts":
        write_pha(path, np.zeros_like(counts), exposure)
    elif kind == "wrong_channels":
        write_pha(path, np.concatenate([counts, counts[:5]]), exposure)
    elif kind == "not_ogip":
        write_pha(path, counts, exposure, {"HDUCLASS": "NONE"})
    else:
        write_pha(path, counts, exposure)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2 - 7])


def acquire_shard(sky: Sky, resp: Response, cfg: dict, seed: int, shard: int, n_shards: int, spec_dir) -> pd.DataFrame:
    """Write the PHA files of one shard; observations (OBSERVATIONS contract + measured columns)."""
    cat = sky.catalog
    bad = corrupt_plan(cat, cfg["n_corrupt"])
    rows = []
    for i in np.flatnonzero(in_shard(cat["source_id"], shard, n_shards)):
        r = cat.iloc[i]
        counts = observe(sky, int(i), seed)
        path = Path(spec_dir) / f"{r['source_id']}.pha"
        if r["source_id"] in bad:
            _write_corrupt(path, counts, resp.exposure, bad[r["source_id"]])
        else:
            write_pha(path, counts, resp.exposure, {"OBJECT": r["source_id"]})
        rows.append({"obs_id": r["source_id"], "proposal_id": r["source_id"], "modality": "spectrum",
                     "path": str(path), "cycle": pd.NA, "instrument": "TOY", "filter": "", "target": r["source_id"],
                     "gt_class": r["true_class"], "gt_attrs": gt_attrs(r), **measured(counts, sky.background, resp)})
    return pd.DataFrame(rows)


def add_empty_paper(papers_df: pd.DataFrame, links: pd.DataFrame, cat: pd.DataFrame, seed: int):
    """Plant a paper with no abstract (must be rejected, not dropped)."""
    tid = f"P-EMPTY-{seed % 1000:03d}"
    row = pd.DataFrame([{"text_id": tid, "title": "Erratum", "abstract": "", "kind": "individual"}])
    link = pd.DataFrame([{"text_id": tid, "source_id": cat["source_id"].iloc[0]}])
    return pd.concat([papers_df, row], ignore_index=True), pd.concat([links, link], ignore_index=True)
