"""The acquisition jobs of the spectra study, one function per rule: the demo sky's catalogue and spectrum
shards, and the ``csc`` source's catalogue, shards and gathered papers. Each writes its tables and the
catalogue variables the source provides (``variables.json``, read by the dataset and the regression)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from skytext.core.contracts import rejects_frame
from skytext.sources import xray_demo, xray_papers
from skytext.sources.csc import catalog as csc_catalog
from skytext.sources.csc.papers import gather_papers
from skytext.sources.csc.shard import acquire_shard
from skytext.sources.ogip import load_response


def write_variables(variables: list[str], path: str | Path) -> None:
    """Write the source's catalogue variable names as ``{"variables": [...]}``."""
    Path(path).write_text(json.dumps({"variables": list(variables)}, indent=1))


def read_variables(path: str | Path) -> list[str]:
    """The catalogue variable names a source wrote with :func:`write_variables`."""
    return list(json.loads(Path(path).read_text())["variables"])


def run_demo_catalog(response: str, catalog: str, papers: str, links: str, rejects: str, variables: str,
                     demo: dict, n_channels: int, seed: int) -> None:
    """Rule spectra_demo_catalog: the demo sky's catalogue, papers and links (one job)."""
    sky = xray_demo.simulate(demo, seed, load_response(response, n_channels))
    pap, lnk = xray_papers.papers(sky.catalog, demo, seed)
    if demo["n_corrupt"]:
        pap, lnk = xray_demo.add_empty_paper(pap, lnk, sky.catalog, seed)
    sky.catalog.to_parquet(catalog, index=False)
    pap.to_parquet(papers, index=False)
    lnk.to_parquet(links, index=False)
    rejects_frame([]).to_parquet(rejects, index=False)
    write_variables(xray_demo.VARIABLES, variables)
    print(f"{len(sky.catalog)} sources, {len(pap)} papers, {len(lnk)} links")


def run_demo_spectra(response: str, observations: str, rejects: str, demo: dict, n_channels: int, seed: int,
                     shard: int, shards: int, spec_dir: str) -> None:
    """Rule spectra_demo_spectra: one shard of the demo's PHA spectra and their observations rows."""
    resp = load_response(response, n_channels)
    sky = xray_demo.simulate(demo, seed, resp)
    Path(spec_dir).mkdir(parents=True, exist_ok=True)
    obs = xray_demo.acquire_shard(sky, resp, demo, seed, shard, shards, spec_dir)
    obs.to_parquet(observations, index=False)
    rejects_frame([]).to_parquet(rejects, index=False)
    print(f"shard {shard}: {len(obs)} spectra")


def run_csc_catalog(catalog: str, rejects: str, variables: str, csc: dict) -> None:
    """Rule spectra_csc_catalog: the CSC master-source query (one job)."""
    cat, rej = csc_catalog.fetch_catalog(csc)
    cat.to_parquet(catalog, index=False)
    rej.to_parquet(rejects, index=False)
    write_variables(csc_catalog.variables(csc), variables)
    print(f"{len(cat)} sources, {len(rej)} rejected")


def run_csc_spectra(catalog: str, response: str, class_map: str, observations: str, rejects: str, papers: str,
                    links: str, csc: dict, n_channels: int, shard: int, shards: int, raw_dir: str,
                    spec_dir: str) -> None:
    """Rule spectra_csc_spectra: one shard's observations, PHA/ARF/RMF, rebinned spectra, SIMBAD bibcodes and
    class, ADS abstracts."""
    resp = yaml.safe_load((Path(response) / "response.yaml").read_text())
    obs, rej, pap, lnk, stats = acquire_shard(
        pd.read_parquet(catalog), csc, shard, shards, raw_dir, spec_dir, n_channels,
        (float(resp["e_min_kev"]), float(resp["e_max_kev"])), yaml.safe_load(Path(class_map).read_text()))
    obs.to_parquet(observations, index=False)
    rej.to_parquet(rejects, index=False)
    pap.to_parquet(papers, index=False)
    lnk.to_parquet(links, index=False)
    print(f"shard {shard}: {len(obs)} spectra, {len(rej)} rejects, {len(pap)} papers, requests {stats}")


def run_csc_papers(papers: list[str], links: list[str], papers_out: str, links_out: str) -> None:
    """Rule spectra_csc_papers: the shards' papers and links gathered (one job)."""
    pap, lnk = gather_papers([pd.read_parquet(p) for p in papers], [pd.read_parquet(p) for p in links])
    pap.to_parquet(papers_out, index=False)
    lnk.to_parquet(links_out, index=False)
    print(f"{len(pap)} papers, {len(lnk)} links")
