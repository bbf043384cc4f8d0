"""Entry script for the analysis_umap rule: one seeded UMAP fit of one set."""

from pathlib import Path

from skytext.analysis.steps import limit_threads, umap
from skytext.core.smk import log_to


def main(input, output, params, threads) -> None:
    with limit_threads(threads):
        umap(Path(input["counts"]).parent, params["umap"], params["seed"], output)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
