"""Entry script for the analysis_summary rule: tables and figures comparing every set."""

from pathlib import Path

from skytext.analysis.steps import summary
from skytext.core.smk import log_to


def main(input, output, params) -> None:
    summary([Path(p).parent for p in input["counts"]], list(input["probes"]), list(input["coords"]),
            list(input["notes"]), input["pairs"], params["skipped"], output)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
