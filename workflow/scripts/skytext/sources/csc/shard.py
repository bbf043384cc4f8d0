"""One acquisition shard of source ``csc``: each source's observations (cached per source), the files of its
best observations rebinned and summed into one PHA, SIMBAD bibcodes and class, ADS abstracts."""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.core.contracts import OBSERVATIONS, conform, empty, rejects_frame
from skytext.core.safepath import safe_join
from skytext.core.sharding import in_shard
from skytext.sources.csc.catalog import reject_row
from skytext.sources.csc.files import lookup_observations, source_files
from skytext.sources.csc.papers import ads_papers, otype_class, simbad_lookup
from skytext.sources.csc.tap import read_json
from skytext.sources.download import DownloadPolicy, FetchError, clean_partials, write_atomic
from skytext.sources.ogip import write_pha

log = logging.getLogger(__name__)
STAGE_SHARD = "spectra_csc_spectra"


def _observations(rows: list[dict], csc: dict, raw_dir: Path, policy: DownloadPolicy, reject) -> dict[str, list]:
    """source_id -> its observation rows, from the cache ``raw_dir/<source>/observations.json`` (valid for the
    tables it was asked of) or the TAP (``names_per_query`` names per query); the sources of a batch that fails
    become rejects, and nothing of it is cached."""
    out, todo, tables = {}, [], csc["observations"]["tables"]
    for r in rows:
        got = read_json(safe_join(raw_dir, r["source_id"], "observations.json"))
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
    got = read_json(cache)
    if not isinstance(got, dict):
        got = simbad_lookup(float(r["ra"]), float(r["dec"]), csc, policy)
        stats["simbad"] += 1
        write_atomic(cache, lambda p: p.write_text(json.dumps(got)))
    return list(got["bibcodes"]), str(got.get("otype") or "")


def acquire_shard(catalog: pd.DataFrame, csc: dict, shard: int, n_shards: int, raw_dir, spec_dir,
                  n_channels: int, e_range: tuple[float, float], class_map: dict | None,
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
        rejects.append(reject_row(STAGE_SHARD, kind, rid, reason, detail))

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
