"""Entry script for the analysis_search rule: top-k cosine neighbours of query objects, every set."""

from pathlib import Path

from skytext.analysis.steps import limit_threads, search
from skytext.core.smk import log_to


def main(input, output, params, threads) -> None:
    with limit_threads(threads):
        search([Path(p).parent for p in input["counts"]], params["search"], params["seed"], output)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
