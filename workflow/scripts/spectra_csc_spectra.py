"""Entry script for spectra_csc_spectra: one shard's observations, PHA/ARF/RMF, rebinned spectra, SIMBAD bibcodes and
class, ADS abstracts."""

from pathlib import Path

import pandas as pd
import yaml

from skytext.core.smk import log_to
from skytext.sources import csc


def main(input, output, params, shard: int) -> None:
    resp = yaml.safe_load((Path(input["response"]) / "response.yaml").read_text())
    obs, rejects, papers, links, stats = csc.acquire_shard(
        pd.read_parquet(input["catalog"]), params["csc"], shard, params["shards"], params["raw_dir"],
        params["spec_dir"], params["n_channels"], (float(resp["e_min_kev"]), float(resp["e_max_kev"])),
        yaml.safe_load(Path(input["class_map"]).read_text()))
    obs.to_parquet(output["observations"], index=False)
    rejects.to_parquet(output["rejects"], index=False)
    papers.to_parquet(output["papers"], index=False)
    links.to_parquet(output["links"], index=False)
    print(f"shard {shard}: {len(obs)} spectra, {len(rejects)} rejects, {len(papers)} papers, requests {stats}")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, int(snakemake.wildcards.spec_shard))  # noqa: F821
