"""Entry script for the analysis_pairs rule: CKA, mutual kNN and per-object cosine for every pair of sets."""

from pathlib import Path

from skytext.analysis.steps import limit_threads, pairs
from skytext.core.smk import log_to


def main(input, output, params, threads) -> None:
    with limit_threads(threads):
        pairs([Path(p).parent for p in input["counts"]], params["pairs"], params["seed"], output)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
