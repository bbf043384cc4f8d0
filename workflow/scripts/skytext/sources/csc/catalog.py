"""The master-source catalogue of source ``csc``: the CSC 2.1 query (a cone as an RA/Dec box cut to the circle
here, or a list of names), cleaned into the demo's conventions (log10 fluxes, counts and N_H in cm^-2)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from skytext.core.contracts import rejects_frame
from skytext.core.safepath import safe_name
from skytext.sources.csc.tap import adql_str, tap_query
from skytext.sources.download import DownloadPolicy

log = logging.getLogger(__name__)
STAGE_CAT = "spectra_csc_catalog"
LOG10 = ("flux_aper_b", "flux_aper_s", "flux_aper_m", "flux_aper_h", "src_cnts_aper_b")


def reject_row(stage, kind, rid, reason, detail) -> dict:
    """A rejects row (REJECTS contract) with the detail cut to 300 characters."""
    return {"record_type": kind, "record_id": str(rid), "stage": stage, "reason": reason, "detail": str(detail)[:300]}


def build_adql(csc: dict) -> str:
    """The master-source query of ``csc`` (cone as an RA/Dec box, or a list of names)."""
    q = csc["query"]
    cols = ["name", "ra", "dec", *[c for c in csc["columns"] if c not in ("name", "ra", "dec")]]
    where = [f"significance >= {float(q['min_significance'])}"]
    if q["mode"] == "names":
        if not q["names"]:
            raise ValueError("spectra.csc.query.names is empty (mode: names)")
        where.append("name IN (" + ", ".join(adql_str(n) for n in q["names"]) + ")")
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
            rejects.append(reject_row(STAGE_CAT, "source", f"row{i}", "no_name", "master-source row without a name"))
            continue
        try:
            sid = safe_name(name.strip())
        except ValueError as err:
            rejects.append(reject_row(STAGE_CAT, "source", name[:80], "bad_name", err))
            continue
        if not (np.isfinite(pd.to_numeric(r["ra"], errors="coerce")) and np.isfinite(pd.to_numeric(r["dec"], errors="coerce"))):
            rejects.append(reject_row(STAGE_CAT, "source", sid, "no_position", f"{name}: ra/dec missing"))
            continue
        keep.append((i, sid))
    df = df.loc[[i for i, _ in keep]].assign(source_id=[s for _, s in keep])
    df["name"] = df["name"].str.strip()
    dup = df["source_id"].duplicated(keep="first")
    for sid in df.loc[dup, "source_id"]:
        rejects.append(reject_row(STAGE_CAT, "source", sid, "duplicate_source", "returned more than once; kept the first"))
    df = df[~dup]
    if q["mode"] == "cone":
        out = _sep_deg(df["ra"].astype(float), df["dec"].astype(float), q["ra"], q["dec"]) > q["radius_deg"]
        df = df[~out]  # outside the circle: never requested (the box is only how the cone is asked for)
    else:
        got = set(df["name"])
        for n in q["names"]:
            if n.strip() not in got:
                rejects.append(reject_row(STAGE_CAT, "source", n[:80], "not_in_catalog",
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


def variables(csc: dict) -> list[str]:
    """The catalogue variables source ``csc`` writes: the selected master-source columns and the two
    per-observation ones (``src_cnts_aper_b``, ``var_index_b``)."""
    cols = [c for c in csc["columns"] if c not in ("name", "ra", "dec")]
    return cols + [c for c in ("src_cnts_aper_b", "var_index_b") if c not in cols]
