"""Entry script for the analysis_probes rule: kNN, linear and MLP probes of one set, with bootstrap CIs."""

from pathlib import Path

from skytext.analysis.steps import limit_threads, probes
from skytext.core.smk import log_to


def main(input, output, params, threads) -> None:
    with limit_threads(threads):
        probes(Path(input["counts"]).parent, params["probes"], params["seed"], output)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
