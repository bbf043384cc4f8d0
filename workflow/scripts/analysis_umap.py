"""Entry script of rule analysis_umap: one seeded UMAP fit of one set."""

from skytext.analysis.steps import umap_set
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        umap_set(  # noqa: F821
            embeddings=snakemake.input.embeddings,  # noqa: F821
            objects=snakemake.input.objects,  # noqa: F821
            counts=snakemake.input.counts,  # noqa: F821
            umap=dict(snakemake.params.umap),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            out_coords=snakemake.output.coords,  # noqa: F821
            out_notes=snakemake.output.notes,  # noqa: F821
        )
