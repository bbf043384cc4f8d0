"""Gather the acquisition outputs of any spectra source into the dataset: every spectrum passes
:func:`skytext.sources.ogip.grid_counts` (bad ones become rejects), papers without an abstract are rejected,
links to rejected records dropped (and counted), and sources are split by a seeded hash of source_id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from skytext.core.contracts import OBSERVATIONS, REJECTS, conform, rejects_frame
from skytext.core.split import split_by_group
from skytext.sources.ogip import PHAError, grid_counts
from skytext.spectra.acquire import read_variables

STAGE = "spectra_dataset"


def _reject(kind, rid, reason, detail):
    return {"record_type": kind, "record_id": str(rid), "stage": STAGE, "reason": reason, "detail": detail}


def load_spectra(obs: pd.DataFrame, n_channels: int, e_range: tuple[float, float]
                 ) -> tuple[pd.DataFrame, np.ndarray, list[dict]]:
    """(usable observations, counts [n, channels] float32, rejects) after reading every PHA file onto the grid
    of ``n_channels`` over ``e_range`` keV (:func:`~skytext.sources.ogip.grid_counts`)."""
    keep, counts, rejects = [], [], []
    dup = obs["obs_id"].duplicated(keep="first")
    for oid in obs.loc[dup, "obs_id"]:
        rejects.append(_reject("spectrum", oid, "duplicate_obs_id", f"source {oid} appears more than once; kept the first"))
    obs = obs[~dup].reset_index(drop=True)
    for i, path in enumerate(obs["path"]):
        try:
            c, _ = grid_counts(path, n_channels, e_range)
        except PHAError as err:
            rejects.append(_reject("spectrum", obs["obs_id"].iloc[i], err.reason, err.detail))
            continue
        keep.append(i)
        counts.append(c)
    mat = np.stack(counts) if counts else np.zeros((0, n_channels), np.float32)
    return obs.iloc[keep].reset_index(drop=True), mat.astype(np.float32), rejects


def clean_papers(papers: pd.DataFrame, links: pd.DataFrame, source_ids: set[str], min_chars: int):
    """(papers, links, rejects): no-abstract papers rejected; links kept only between kept records."""
    rejects = []
    text = papers["abstract"].fillna("").astype(str).str.strip()
    short = text.str.len() < min_chars
    for tid, n in zip(papers.loc[short, "text_id"], text[short].str.len()):
        rejects.append(_reject("paper", tid, "no_abstract", f"abstract has {n} characters (< {min_chars})"))
    papers = papers[~short]
    links = links[links["text_id"].isin(set(papers["text_id"]))]
    orphan = links[~links["source_id"].isin(source_ids)]
    links = links[links["source_id"].isin(source_ids)]
    lonely = ~papers["text_id"].isin(set(links["text_id"]))
    for tid in papers.loc[lonely, "text_id"]:
        rejects.append(_reject("paper", tid, "no_sources", "every source this paper discusses was rejected"))
    papers = papers[~lonely]
    return papers.reset_index(drop=True), links.drop_duplicates().reset_index(drop=True), rejects, len(orphan)


def build_spectra_dataset(obs_shards, reject_shards, catalog: pd.DataFrame, papers: pd.DataFrame, links: pd.DataFrame,
          variables: list[str], cfg: dict, n_channels: int, e_range: tuple[float, float], seed: int):
    """dict of the dataset tables (sources, observations, papers, links, rejects), counts and a summary."""
    obs = pd.concat([conform(o, OBSERVATIONS, "observations") for o in obs_shards], ignore_index=True)
    obs, counts, rejects = load_spectra(obs, n_channels, e_range)
    ids = set(obs["obs_id"].astype(str))
    rejected_catalog = ~catalog["source_id"].isin(ids)
    papers, links, prej, n_orphan = clean_papers(papers, links, ids, cfg["min_text_chars"])
    split = split_by_group(obs["obs_id"], cfg["val_fraction"], cfg["test_fraction"], seed)
    obs = obs.assign(split=obs["obs_id"].map(split).astype("string"))
    measured = [v for v in variables if v in obs.columns]
    # the catalogue's simulation-only columns stay in acquire/: every float column here is a variable
    hidden = [c for c in ("expected_counts", "mean_energy", "ecut") if c in catalog.columns]
    src = catalog[~rejected_catalog].drop(columns=[v for v in measured if v in catalog.columns] + hidden)
    src = obs[["obs_id", "split", *measured]].rename(columns={"obs_id": "source_id"}).merge(src, on="source_id", how="left")
    for v in variables:
        src[v] = src[v].astype("float64") if v in src else np.nan
    src["source_id"], src["class"] = src["source_id"].astype("string"), src["class"].astype("string")
    if "simbad_class" in obs:  # source csc: the catalogue has no class; SIMBAD's otype names one
        named = src["source_id"].map(obs.set_index("obs_id")["simbad_class"]).astype("string")
        src["class"] = src["class"].where(src["class"].notna() & (src["class"] != "unknown"), named).fillna("unknown")
    src["split"] = src["split"].astype("string")
    if "is_outlier" in src:
        src["is_outlier"] = src["is_outlier"].fillna(False).astype(bool)
    src["n_papers"] = src["source_id"].map(links["source_id"].value_counts()).fillna(0).astype("int64")
    all_rej = [r for r in reject_shards if len(r)] + [rejects_frame(rejects + prej)]
    rej = pd.concat([conform(r, REJECTS, "rejects") for r in all_rej], ignore_index=True)
    summary = {"sources": int(len(src)), "spectra_rejected": len(rejects), "papers": int(len(papers)),
               "papers_rejected": len(prej), "links": int(len(links)), "links_to_rejected_sources": int(n_orphan),
               "sources_without_papers": int((src["n_papers"] == 0).sum()),
               "splits": src["split"].value_counts().to_dict(), "variables": list(variables),
               "reject_reasons": rej["reason"].value_counts().to_dict() if len(rej) else {}}
    return {"sources": src, "observations": obs, "papers": papers, "links": links, "rejects": rej}, counts, summary


def run_dataset(observations: list[str], rejects: list[str], catalog: str, catalog_rejects: str, papers: str,
                links: str, variables: str, response: str, sources_out: str, observations_out: str, papers_out: str,
                links_out: str, rejects_out: str, counts_out: str, summary_out: str, dataset: dict, n_channels: int,
                seed: int) -> None:
    """Rule spectra_dataset: gather the shards, read every PHA onto the grid, clean papers, split by source
    (``variables``: the source's variables.json)."""
    resp = yaml.safe_load((Path(response) / "response.yaml").read_text())
    tables, counts, summary = build_spectra_dataset(
        [pd.read_parquet(p) for p in observations],
        [pd.read_parquet(p) for p in rejects] + [pd.read_parquet(catalog_rejects)],
        pd.read_parquet(catalog), pd.read_parquet(papers), pd.read_parquet(links), read_variables(variables),
        dataset, n_channels, (float(resp["e_min_kev"]), float(resp["e_max_kev"])), seed)
    outs = {"sources": sources_out, "observations": observations_out, "papers": papers_out, "links": links_out,
            "rejects": rejects_out}
    for name, df in tables.items():
        df.to_parquet(outs[name], index=False)
    np.save(counts_out, counts)
    Path(summary_out).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
