"""Entry script for the analysis_prepare rule: load, check and join one embedding set to its catalogue."""

from pathlib import Path

from skytext.analysis.steps import prepare
from skytext.core.smk import log_to


def main(input, output, params) -> None:
    prepare(params["entry"], params["catalogue"], input["embeddings"], input["catalogue"],
            params["test_fraction"], params["seed"], Path(output["counts"]).parent)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
