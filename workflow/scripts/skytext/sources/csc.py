"""Source ``csc`` of the spectra study: the Chandra Source Catalog 2.1, SIMBAD bibcodes and ADS abstracts.

Endpoints (every base URL is in the config section ``spectra.csc``):

* CSC TAP (``tap_url``, default ``https://cda.cfa.harvard.edu/csc21tap``): synchronous ADQL through
  ``pyvo.dal.TAPService.run_sync`` (POST ``<tap_url>/sync`` with ``REQUEST=doQuery&LANG=ADQL&QUERY=...``,
  answered with a VOTable). Table ``csc21.master_source`` with columns ``name, ra, dec, significance,
  hard_hm, hard_ms, flux_aper_b|s|m|h`` (erg/cm2/s), ``src_cnts_aper_b``, ``powlaw_gamma``, ``powlaw_nh``
  (1e20 cm^-2), ``bb_kt``, ``brems_kt``, ``apec_kt``, ``var_index_b``. The CSC TAP is reported to reject
  ADQL geometry (``CIRCLE``/``CONTAINS``), so a cone is sent as an RA/Dec box and cut to the circle here.
* CSC file retrieval (``files_url``, a template; default
  ``https://cda.cfa.harvard.edu/csccli/retrieveFile?version=rel2.1&filetype=...&filename=...``): the
  per-source PHA (type I, OGIP) with its ARF and RMF. The live service names files by
  obsid/obi/region (``csccli/browse?packageset=...`` resolves them); the template here fills in
  ``{name}`` and ``{filetype}`` only.
* SIMBAD TAP (``simbad_tap_url``, the service ``astroquery.simbad`` queries): bibcodes of the objects
  within ``match_radius_arcsec`` of each source (``basic`` JOIN ``has_ref`` JOIN ``ref``).
* ADS API (``ads_url``, default ``https://api.adsabs.harvard.edu/v1``): ``GET /search/query?q=bibcode:(...)
  &fl=bibcode,title,abstract&rows=n`` with ``Authorization: Bearer <token>``; the answer is JSON
  ``{"response": {"docs": [{"bibcode", "title": [..], "abstract"}]}}``. The token is read from the
  environment variable named by ``ads_token_env`` and never logged or written.

Every request goes through :func:`skytext.sources.download.with_retries` (5xx/429 with ``Retry-After``,
timeouts, truncated bodies); every file is verified (whole FITS blocks, astropy opens it) and written
atomically; a rerun skips files already stored and valid and the SIMBAD/ADS answers cached per source /
bibcode. Archive names become paths only through :mod:`skytext.core.safepath`. Every requested source ends
in the observations or in the rejects with a reason.

Values are stored in the demo's conventions (:mod:`skytext.sources.xray_demo`): fluxes, counts and N_H as
log10 (N_H in cm^-2); spectra rebinned onto the demo channel grid (``n_channels`` evenly over the
response's ``e_min_kev..e_max_kev``) with the RMF's EBOUNDS and written with the demo's PHA writer.
"""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import requests

from skytext.core import retry
from skytext.core.contracts import OBSERVATIONS, conform, empty, rejects_frame
from skytext.core.retry import RETRYABLE_STATUS, retry_after_s
from skytext.core.safepath import safe_join, safe_name
from skytext.core.sharding import in_shard
from skytext.sources.csc_papers import _json_cache, ads_papers, gather_papers, simbad_bibcodes  # noqa: F401
from skytext.sources.download import DownloadPolicy, FetchError, classify, fetch_bytes, with_retries, write_atomic

log = logging.getLogger(__name__)
STAGE_CAT, STAGE_SHARD = "spectra_csc_catalog", "spectra_csc_spectra"
FILETYPES = ("pha", "arf", "rmf")
LOG10 = ("flux_aper_b", "flux_aper_s", "flux_aper_m", "flux_aper_h", "src_cnts_aper_b")


def _reject(stage, kind, rid, reason, detail):
    return {"record_type": kind, "record_id": str(rid), "stage": stage, "reason": reason, "detail": str(detail)[:300]}


# ------------------------------------------------------------------------------------------ TAP / pyvo
class _TimeoutSession(requests.Session):
    """A requests session that puts a timeout on every request (pyvo does not pass one)."""

    def __init__(self, timeout_s: float):
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(*args, **kwargs)


def classify_dal(exc: BaseException) -> FetchError:
    """pyvo's exceptions -> :class:`FetchError` (retryable for 5xx/429/timeouts/unparseable answers)."""
    from pyvo.dal.exceptions import DALFormatError, DALServiceError

    if isinstance(exc, DALServiceError):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, requests.RequestException) and not isinstance(cause, requests.HTTPError):
            return classify(cause)
        code = exc.code or 0
        resp = getattr(cause, "response", None)
        ra = retry_after_s(resp.headers) if resp is not None else None
        if code:
            return FetchError(f"http_{code}", str(exc).splitlines()[0][:200], code in RETRYABLE_STATUS, retry_after=ra)
        return FetchError("tap_error", str(exc).splitlines()[0][:200], True)
    if isinstance(exc, DALFormatError) or type(exc).__name__ in ("DALFormatError", "ExpatError", "VOTableSpecError"):
        return FetchError("bad_votable", f"{type(exc).__name__}: {exc}".splitlines()[0][:200], True)
    return classify(exc)


def tap_query(url: str, adql: str, policy: DownloadPolicy, what: str = "tap") -> pd.DataFrame:
    """Run ``adql`` synchronously on the TAP service at ``url`` (retried); the result as a DataFrame."""
    import pyvo

    def attempt():
        with _TimeoutSession(policy.timeout_s) as s:
            return pyvo.dal.TAPService(url, session=s).run_sync(adql).to_table()

    table = retry.call_with_retries(attempt, classify_dal, policy, what)
    df = table.to_pandas()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return df


def _adql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def build_adql(csc: dict) -> str:
    """The master-source query of ``csc`` (cone as an RA/Dec box, or a list of names)."""
    q = csc["query"]
    cols = ["name", "ra", "dec", *[c for c in csc["columns"] if c not in ("name", "ra", "dec")]]
    where = [f"significance >= {float(q['min_significance'])}"]
    if q["mode"] == "names":
        if not q["names"]:
            raise ValueError("spectra.csc.query.names is empty (mode: names)")
        where.append("name IN (" + ", ".join(_adql_str(n) for n in q["names"]) + ")")
    else:
        r, dec = float(q["radius_deg"]), float(q["dec"])
        dra = r / max(math.cos(math.radians(min(abs(dec) + r, 89.9))), 1e-3)
        where.append(f"dec BETWEEN {dec - r:.6f} AND {dec + r:.6f}")
        lo, hi = (q["ra"] - dra) % 360, (q["ra"] + dra) % 360
        if dra >= 180:
            pass
        elif lo <= hi:
            where.append(f"ra BETWEEN {lo:.6f} AND {hi:.6f}")
        else:
            where.append(f"(ra >= {lo:.6f} OR ra <= {hi:.6f})")
    return f"SELECT TOP {int(q['max_sources'])} {', '.join(cols)} FROM {csc['table']} WHERE {' AND '.join(where)}"


def _sep_deg(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    c = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r1 - r2)
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def to_catalog(df: pd.DataFrame, csc: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(catalogue in the demo's conventions, rejects): rows without a usable name/position, duplicates,
    sources outside the cone, and (mode names) requested names the archive did not return."""
    q, rejects = csc["query"], []
    df = df.copy()
    for c in ("name", "ra", "dec"):
        if c not in df:
            raise ValueError(f"CSC answer lacks column {c!r}")
    keep = []
    for i, r in df.iterrows():
        name = r["name"]
        if not isinstance(name, str) or not name.strip():
            rejects.append(_reject(STAGE_CAT, "source", f"row{i}", "no_name", "master-source row without a name"))
            continue
        try:
            sid = safe_name(name.strip())
        except ValueError as err:
            rejects.append(_reject(STAGE_CAT, "source", name[:80], "bad_name", err))
            continue
        if not (np.isfinite(pd.to_numeric(r["ra"], errors="coerce")) and np.isfinite(pd.to_numeric(r["dec"], errors="coerce"))):
            rejects.append(_reject(STAGE_CAT, "source", sid, "no_position", f"{name}: ra/dec missing"))
            continue
        keep.append((i, sid))
    df = df.loc[[i for i, _ in keep]].assign(source_id=[s for _, s in keep])
    df["name"] = df["name"].str.strip()
    dup = df["source_id"].duplicated(keep="first")
    for sid in df.loc[dup, "source_id"]:
        rejects.append(_reject(STAGE_CAT, "source", sid, "duplicate_source", "returned more than once; kept the first"))
    df = df[~dup]
    if q["mode"] == "cone":
        out = _sep_deg(df["ra"].astype(float), df["dec"].astype(float), q["ra"], q["dec"]) > q["radius_deg"]
        df = df[~out]  # outside the circle: never requested (the box is only how the cone is asked for)
    else:
        got = set(df["name"])
        for n in q["names"]:
            if n.strip() not in got:
                rejects.append(_reject(STAGE_CAT, "source", n[:80], "not_in_catalog",
                                       f"{n} not returned by the CSC (absent or below min_significance)"))
    for c in csc["columns"]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64") if c in df else np.nan
    for c in LOG10:
        if c in df:
            v = df[c].where(df[c] > 0)
            df[c] = np.log10(v)
    if "powlaw_nh" in df:
        df["powlaw_nh"] = np.log10(df["powlaw_nh"].where(df["powlaw_nh"] > 0) * 1e20)
    df = df.assign(**{"class": "unknown", "true_class": "unknown", "outlier_type": "", "is_outlier": False})
    cols = ["source_id", "name", "ra", "dec", "class", "true_class", "outlier_type", "is_outlier",
            *[c for c in csc["columns"] if c not in ("name", "ra", "dec")]]
    return df[cols].reset_index(drop=True), rejects_frame(rejects)


def fetch_catalog(csc: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The catalogue rule: query the CSC (retried) and clean the answer."""
    policy = DownloadPolicy.from_config(csc["download"])
    adql = build_adql(csc)
    log.info("CSC query: %s", adql)
    return to_catalog(tap_query(csc["tap_url"], adql, policy, "csc tap"), csc)


# ------------------------------------------------------------------------------------------ files
def check_fits(body: bytes, what: str) -> bytes:
    """``body`` if it is a whole FITS file astropy opens; else a retryable :class:`FetchError`."""
    from astropy.io import fits
    import io

    if not body.startswith(b"SIMPLE  ="):
        raise FetchError("corrupt_fits", f"{what}: no FITS 'SIMPLE' card at the start", True, body)
    if len(body) % 2880:
        raise FetchError("truncated_fits", f"{what}: {len(body)} bytes, not whole 2880-byte blocks", True, body)
    try:
        with fits.open(io.BytesIO(body), memmap=False) as hdul:
            for h in hdul:
                _ = h.data
    except Exception as exc:  # noqa: BLE001 - astropy raises many types
        raise FetchError("truncated_fits", f"{what}: {type(exc).__name__}: {exc}"[:200], True, body) from exc
    return body


def _valid_file(path: Path) -> bool:
    try:
        check_fits(path.read_bytes(), path.name)
        return True
    except (OSError, FetchError):
        return False


def file_url(template: str, name: str, filetype: str) -> str:
    return template.format(name=quote(name, safe=""), filetype=filetype)


def rebin(pha: Path, rmf: Path, n_channels: int, e_min: float, e_max: float) -> tuple[np.ndarray, float]:
    """Counts of a raw PHA summed into ``n_channels`` even bins over e_min..e_max keV (channel energies from
    the RMF's EBOUNDS); raises :class:`skytext.spectra.pha.PHAError` when the files cannot be used."""
    from astropy.io import fits

    from skytext.spectra.pha import PHAError, read_pha

    counts, exposure = read_pha(pha)
    try:
        with fits.open(rmf, memmap=False) as hdul:
            eb = hdul["EBOUNDS"].data
            ch, lo, hi = (np.asarray(eb[c], dtype=float) for c in ("CHANNEL", "E_MIN", "E_MAX"))
        with fits.open(pha, memmap=False) as hdul:
            ext = next(h for h in hdul[1:] if "CHANNEL" in [n.upper() for n in h.columns.names])
            chan = np.asarray(ext.data["CHANNEL"], dtype=float)
    except Exception as exc:  # noqa: BLE001
        raise PHAError("bad_response", f"{rmf.name}: no usable EBOUNDS ({type(exc).__name__})") from exc
    energy = np.interp(chan, ch, 0.5 * (lo + hi), left=np.nan, right=np.nan)
    edges = np.linspace(e_min, e_max, n_channels + 1)
    ok = np.isfinite(energy) & (energy >= e_min) & (energy < e_max)
    out = np.zeros(n_channels)
    np.add.at(out, np.clip(np.searchsorted(edges, energy[ok], side="right") - 1, 0, n_channels - 1), counts[ok])
    if out.sum() <= 0:
        raise PHAError("no_counts", f"{pha.name} has no counts in {e_min}-{e_max} keV")
    return out.astype(np.int32), exposure


def _fetch_files(r: dict, csc: dict, raw_dir: Path, policy: DownloadPolicy) -> tuple[dict, int]:
    """The source's PHA, ARF and RMF under ``raw_dir/<source>/`` (stored ones kept when valid): (paths, fetched)."""
    sid = r["source_id"]
    folder = safe_join(raw_dir, sid)
    folder.mkdir(parents=True, exist_ok=True)
    paths, fetched = {}, 0
    for ft in FILETYPES:
        dest = safe_join(folder, f"{sid}_{ft}.fits")
        if not _valid_file(dest):
            url = file_url(csc["files_url"], r["name"], ft)
            with requests.Session() as s:
                body = with_retries(lambda: check_fits(fetch_bytes(s, url, policy.timeout_s), dest.name),
                                    policy, dest.name)
            write_atomic(dest, lambda p: p.write_bytes(body))
            fetched += 1
        paths[ft] = dest
    return paths, fetched


def _observation(r: dict, paths: dict, spec_dir: Path, n_channels: int, e_range) -> dict:
    """Rebin the source's spectrum onto the demo grid, write it as PHA, and return its observations row."""
    from skytext.spectra.pha import write_pha

    sid = r["source_id"]
    out = safe_join(spec_dir, f"{sid}.pha")
    counts, exposure = rebin(paths["pha"], paths["rmf"], n_channels, *e_range)
    write_atomic(out, lambda p: write_pha(p, counts, exposure, {"OBJECT": r["name"][:60], "TELESCOP": "CHANDRA",
                                                                 "INSTRUME": "ACIS"}))
    return {"obs_id": sid, "proposal_id": sid, "modality": "spectrum", "path": str(Path(spec_dir) / out.name),
            "cycle": pd.NA, "instrument": "ACIS", "filter": "", "target": r["name"],
            "arf_path": str(paths["arf"]), "rmf_path": str(paths["rmf"]), "raw_pha_path": str(paths["pha"])}


def _bibcodes(r: dict, csc: dict, raw_dir: Path, policy: DownloadPolicy, stats: dict) -> list[str]:
    """SIMBAD bibcodes of the source, cached in ``raw_dir/<source>/simbad.json`` (raises FetchError)."""
    cache = safe_join(raw_dir, r["source_id"], "simbad.json")
    codes = _json_cache(cache)
    if codes is None:
        codes = simbad_bibcodes(float(r["ra"]), float(r["dec"]), csc, policy)
        stats["simbad"] += 1
        write_atomic(cache, lambda p: p.write_text(json.dumps(codes)))
    return codes


def acquire_shard(catalog: pd.DataFrame, csc: dict, shard: int, n_shards: int, raw_dir, spec_dir,
                  n_channels: int, e_range: tuple[float, float]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                                                           pd.DataFrame, dict]:
    """One shard: files, rebinned spectra, bibcodes and abstracts of its sources.

    Returns (observations, rejects, papers, links, stats); stats counts requests actually sent
    ('fetched' files, 'simbad' and 'ads' queries) so a rerun can be checked to send none."""
    from skytext.spectra.pha import PHAError

    policy = DownloadPolicy.from_config(csc["download"])
    raw_dir, spec_dir = Path(raw_dir), Path(spec_dir)
    for folder in (spec_dir, raw_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for p in folder.rglob(".*.part-*"):
            p.unlink(missing_ok=True)
    rows = catalog[in_shard(catalog["source_id"], shard, n_shards)].to_dict("records")
    stats = {"fetched": 0, "cached": 0, "simbad": 0, "ads": 0}
    rejects, obs, links = [], [], []

    def reject(kind, rid, reason, detail):
        rejects.append(_reject(STAGE_SHARD, kind, rid, reason, detail))

    def files(r: dict):
        try:
            return _fetch_files(r, csc, raw_dir, policy)
        except FetchError as err:
            return err, 0

    with ThreadPoolExecutor(max_workers=max(1, int(csc["download"]["workers"]))) as pool:
        outcomes = list(pool.map(files, rows))
    for r, (paths, fetched) in zip(rows, outcomes):
        sid = r["source_id"]
        if isinstance(paths, FetchError):
            reject("spectrum", sid, paths.reason, f"{r['name']}: {paths.detail}")
            continue
        stats["fetched" if fetched else "cached"] += 1
        try:
            obs.append(_observation(r, paths, spec_dir, n_channels, e_range))
        except PHAError as err:
            reject("spectrum", sid, err.reason, err.detail)
            continue
        try:
            links += [{"text_id": c, "source_id": sid} for c in _bibcodes(r, csc, raw_dir, policy, stats)]
        except FetchError as err:
            reject("links", sid, f"simbad_{err.reason}", f"papers of {r['name']} unknown (spectrum kept): {err.detail}")
    n_links = pd.Series([lk["text_id"] for lk in links]).value_counts() if links else pd.Series(dtype=int)
    papers = ads_papers(sorted({lk["text_id"] for lk in links}), n_links, csc, raw_dir / "_ads", policy, reject, stats)
    ok = {p["text_id"] for p in papers}
    obs_df = conform(pd.DataFrame(obs), OBSERVATIONS, "observations") if obs else empty(OBSERVATIONS)
    pap = pd.DataFrame(papers, columns=["text_id", "title", "abstract", "kind"]).astype("string")
    lnk = pd.DataFrame([lk for lk in links if lk["text_id"] in ok], columns=["text_id", "source_id"]).astype("string")
    log.info("shard %d: %d sources, %d observations, %d rejects, %s", shard, len(rows), len(obs_df), len(rejects), stats)
    return obs_df, rejects_frame(rejects), pap, lnk, stats
