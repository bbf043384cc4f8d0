"""Entry script for spectra_csc_papers: the shards' papers and links gathered (one job)."""

import pandas as pd

from skytext.core.smk import log_to
from skytext.sources import csc


def main(input, output) -> None:
    papers, links = csc.gather_papers([pd.read_parquet(p) for p in input["papers"]],
                                      [pd.read_parquet(p) for p in input["links"]])
    papers.to_parquet(output["papers"], index=False)
    links.to_parquet(output["links"], index=False)
    print(f"{len(papers)} papers, {len(links)} links")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output)  # noqa: F821
