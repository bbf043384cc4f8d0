"""Source ``csc`` of the spectra study: the Chandra Source Catalog 2.1, SIMBAD bibcodes and ADS abstracts.

Endpoints (every base URL is in the config section ``spectra.csc``):

* CSC TAP (``tap_url``, default ``https://cda.cfa.harvard.edu/csc21tap``): synchronous ADQL through
  ``pyvo.dal.TAPService.run_sync`` (POST ``<tap_url>/sync`` with ``REQUEST=doQuery&LANG=ADQL&QUERY=...``,
  answered with a VOTable). Table ``csc21.master_source`` with columns ``name, ra, dec, significance,
  hard_hm, hard_ms, flux_aper_b|s|m|h`` (erg/cm2/s), ``powlaw_gamma``, ``powlaw_nh`` (1e20 cm^-2),
  ``bb_kt``, ``brems_kt``, ``apec_kt``, ``var_inter_index_b``, ``var_intra_index_b``. The CSC TAP is reported to reject
  ADQL geometry (``CIRCLE``/``CONTAINS``), so a cone is sent as an RA/Dec box and cut to the circle here.
  ``src_cnts_aper_b`` and ``var_index_b`` are per-observation columns in the CSC 2.1: a source gets the sum
  of the source counts and the largest variability index of the observations its spectrum is made of.
* Each source's observations and their PHA (type I, OGIP), ARF and RMF: :mod:`skytext.sources.csc_files`
  (TAP joins of the association tables, then ``csccli/browse`` and ``csccli/retrieveFile``).
* SIMBAD TAP (``simbad_tap_url``, the service ``astroquery.simbad`` queries): bibcodes of the objects
  within ``match_radius_arcsec`` of each source (``basic`` JOIN ``has_ref`` JOIN ``ref``), and the nearest
  one's ``otype``, mapped to a class by the ``class_map`` file.
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
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from skytext.core import retry
from skytext.core.contracts import OBSERVATIONS, conform, empty, rejects_frame
from skytext.core.retry import RETRYABLE_STATUS, retry_after_s
from skytext.core.safepath import safe_join, safe_name
from skytext.core.sharding import in_shard
from skytext.sources.csc_files import lookup_observations, source_files
from skytext.sources.csc_papers import _json_cache, ads_papers, gather_papers, otype_class, simbad_lookup  # noqa: F401
from skytext.sources.download import DownloadPolicy, FetchError, classify, clean_partials, write_atomic

log = logging.getLogger(__name__)
STAGE_CAT, STAGE_SHARD = "spectra_csc_catalog", "spectra_csc_spectra"
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
    """Run ``adql`` synchronously on the TAP service at ``url`` (retried); the result as a DataFrame. An answer
    the service cut at its row limit (QUERY_STATUS OVERFLOW) raises a non-retryable FetchError ``overflow``."""
    import pyvo

    def attempt():
        with _TimeoutSession(policy.timeout_s) as s, warnings.catch_warnings():
            warnings.simplefilter("ignore", pyvo.dal.exceptions.DALOverflowWarning)  # handled below
            res = pyvo.dal.TAPService(url, session=s).run_sync(adql)
        if str(res.status[0]).lower() == "overflow":  # pyvo only warns: a cut answer must never be cached
            raise FetchError("overflow", f"{what}: the service cut the answer at {len(res)} rows (its row limit); "
                             "ask for fewer names or a smaller cone", False)
        return res.to_table()

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


# ------------------------------------------------------------------------------------------ spectra
def _observations(rows: list[dict], csc: dict, raw_dir: Path, policy: DownloadPolicy, reject) -> dict[str, list]:
    """source_id -> its observation rows, from the cache ``raw_dir/<source>/observations.json`` (valid for the
    tables it was asked of) or the TAP (``names_per_query`` names per query); the sources of a batch that fails
    become rejects, and nothing of it is cached."""
    out, todo, tables = {}, [], csc["observations"]["tables"]
    for r in rows:
        got = _json_cache(safe_join(raw_dir, r["source_id"], "observations.json"))
        if isinstance(got, dict) and got.get("tables") == tables:  # asked of other tables: ask again
            out[r["source_id"]] = got["rows"]
        else:
            todo.append(r)
    step = int(csc["observations"]["names_per_query"])
    for i in range(0, len(todo), step):
        batch = todo[i: i + step]
        try:
            found = lookup_observations([r["name"] for r in batch], csc, policy)
        except FetchError as err:
            for r in batch:
                reject("spectrum", r["source_id"], f"observations_{err.reason}", f"{r['name']}: {err.detail}")
            continue
        for r in batch:
            out[r["source_id"]] = found.get(r["name"], [])
            safe_join(raw_dir, r["source_id"]).mkdir(parents=True, exist_ok=True)
            write_atomic(safe_join(raw_dir, r["source_id"], "observations.json"),
                         lambda p, v=out[r["source_id"]]: p.write_text(json.dumps({"tables": tables, "rows": v})))
    return out


def _observation(r: dict, got: list, spec_dir: Path) -> dict:
    """The source's rebinned observations summed and written as one PHA; its observations row."""
    from skytext.sources.ogip import write_pha

    sid = r["source_id"]
    out = safe_join(spec_dir, f"{sid}.pha")
    counts, exposure = np.sum([c for *_, c, _ in got], axis=0), float(sum(e for *_, e in got))
    tags = ";".join(f"{o['obsid']}.{o['obi']}.{o['region_id']}" for o, *_ in got)
    write_atomic(out, lambda p: write_pha(p, counts, exposure, {"OBJECT": r["name"][:60], "TELESCOP": "CHANDRA",
                                                                 "INSTRUME": "ACIS", "OBS_IDS": tags[:68]}))
    first = got[0][1]  # the responses of the observation with the most source counts
    cnts = sum(o["src_cnts"] for o, *_ in got)
    var = [o["var_index_b"] for o, *_ in got if o.get("var_index_b") is not None]
    return {"obs_id": sid, "src_cnts_aper_b": math.log10(cnts) if cnts > 0 else np.nan,
            "var_index_b": max(var) if var else np.nan, "proposal_id": sid, "modality": "spectrum", "path": str(Path(spec_dir) / out.name),
            "cycle": pd.NA, "instrument": "ACIS", "filter": "", "target": r["name"], "csc_observations": tags,
            "n_observations": len(got), "arf_path": str(first["arf"]), "rmf_path": str(first["rmf"]),
            "raw_pha_path": str(first["pha"])}


def _simbad(r: dict, csc: dict, raw_dir: Path, policy: DownloadPolicy, stats: dict) -> tuple[list[str], str]:
    """(bibcodes, SIMBAD otype of the nearest object) of the source, cached in ``raw_dir/<source>/simbad.json``
    (raises FetchError)."""
    cache = safe_join(raw_dir, r["source_id"], "simbad.json")
    got = _json_cache(cache)
    if not isinstance(got, dict):
        got = simbad_lookup(float(r["ra"]), float(r["dec"]), csc, policy)
        stats["simbad"] += 1
        write_atomic(cache, lambda p: p.write_text(json.dumps(got)))
    return list(got["bibcodes"]), str(got.get("otype") or "")


def acquire_shard(catalog: pd.DataFrame, csc: dict, shard: int, n_shards: int, raw_dir, spec_dir,
                  n_channels: int, e_range: tuple[float, float], class_map: dict | None = None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """One shard: observations, files, rebinned spectra, SIMBAD bibcodes and class, ADS abstracts of its sources.

    Returns (observations, rejects, papers, links, stats); stats counts what was actually asked ('fetched'
    sources, 'files', 'simbad' and 'ads' queries) so a rerun can be checked to send none. ``class_map``
    (class -> SIMBAD otypes) gives each spectrum a ``simbad_class``."""
    policy = DownloadPolicy.from_config(csc["download"])
    raw_dir, spec_dir = Path(raw_dir), Path(spec_dir)
    for folder in (spec_dir, raw_dir):
        folder.mkdir(parents=True, exist_ok=True)
        clean_partials(folder, recursive=True)  # another shard's live temporary files are left alone
    rows = catalog[in_shard(catalog["source_id"], shard, n_shards)].to_dict("records")
    stats = {"fetched": 0, "cached": 0, "files": 0, "simbad": 0, "ads": 0}
    rejects, obs, links = [], [], []

    def reject(kind, rid, reason, detail):
        rejects.append(_reject(STAGE_SHARD, kind, rid, reason, detail))

    known = _observations(rows, csc, raw_dir, policy, reject)
    rows = [r for r in rows if r["source_id"] in known]

    def files(r: dict):
        return source_files(r["source_id"], known[r["source_id"]], csc, raw_dir, policy, n_channels, e_range)

    with ThreadPoolExecutor(max_workers=max(1, int(csc["download"]["workers"]))) as pool:
        outcomes = list(pool.map(files, rows))
    for r, got in zip(rows, outcomes):
        sid = r["source_id"]
        if not got["obs"]:
            reject("spectrum", sid, got["reason"], f"{r['name']}: {got['detail']}")
            continue
        stats["fetched" if got["fetched"] else "cached"] += 1
        stats["files"] += got["fetched"]
        obs.append(_observation(r, got["obs"], spec_dir))
        try:
            codes, otype = _simbad(r, csc, raw_dir, policy, stats)
        except FetchError as err:
            reject("links", sid, f"simbad_{err.reason}", f"papers of {r['name']} unknown (spectrum kept): {err.detail}")
            continue
        links += [{"text_id": c, "source_id": sid} for c in codes]
        obs[-1].update(simbad_otype=otype, simbad_class=otype_class(otype, class_map or {}))
    n_links = pd.Series([lk["text_id"] for lk in links]).value_counts() if links else pd.Series(dtype=int)
    papers = ads_papers(sorted({lk["text_id"] for lk in links}), n_links, csc, raw_dir / "_ads", policy, reject, stats)
    ok = {p["text_id"] for p in papers}
    obs_df = conform(pd.DataFrame(obs), OBSERVATIONS, "observations") if obs else empty(OBSERVATIONS)
    pap = pd.DataFrame(papers, columns=["text_id", "title", "abstract", "kind"]).astype("string")
    lnk = pd.DataFrame([lk for lk in links if lk["text_id"] in ok], columns=["text_id", "source_id"]).astype("string")
    log.info("shard %d: %d sources, %d observations, %d rejects, %s", shard, len(rows), len(obs_df), len(rejects), stats)
    return obs_df, rejects_frame(rejects), pap, lnk, stats
