"""Entry script for the analysis_correlations rule: Spearman of each property with the linear projection and
the UMAP axes of every set, and the chart comparing sets."""

from pathlib import Path

from skytext.analysis.steps import correlate
from skytext.core.smk import log_to


def main(input, output) -> None:
    correlate([Path(p).parent for p in input["counts"]], list(input["predictions"]), list(input["coords"]), output)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output)  # noqa: F821
