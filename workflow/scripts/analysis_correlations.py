"""Entry script of rule analysis_correlations: Spearman of each property with the linear projection and the
UMAP axes of every set, and the chart comparing sets."""

from skytext.analysis.steps import correlate_sets
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        correlate_sets(  # noqa: F821
            counts=list(snakemake.input.counts),  # noqa: F821
            objects=list(snakemake.input.objects),  # noqa: F821
            predictions=list(snakemake.input.predictions),  # noqa: F821
            coords=list(snakemake.input.coords),  # noqa: F821
            out_table=snakemake.output.table,  # noqa: F821
            out_figure=snakemake.output.figure,  # noqa: F821
        )
