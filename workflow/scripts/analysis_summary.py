"""Entry script of rule analysis_summary: tables and figures comparing every set, and the summary."""

from skytext.analysis.summary import summarise_sets
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        summarise_sets(  # noqa: F821
            counts=list(snakemake.input.counts),  # noqa: F821
            objects=list(snakemake.input.objects),  # noqa: F821
            probes=list(snakemake.input.probes),  # noqa: F821
            coords=list(snakemake.input.coords),  # noqa: F821
            notes=list(snakemake.input.notes),  # noqa: F821
            pairs=snakemake.input.pairs,  # noqa: F821
            skipped=list(snakemake.params.skipped),  # noqa: F821
            out_probes=snakemake.output.probes,  # noqa: F821
            out_knn_figure=snakemake.output.knn_figure,  # noqa: F821
            out_umap_dir=snakemake.output.umap_dir,  # noqa: F821
            out_class_dir=snakemake.output.class_dir,  # noqa: F821
            out_json=snakemake.output.json,  # noqa: F821
            out_markdown=snakemake.output.markdown,  # noqa: F821
        )
