"""Entry script of rule analysis_search: top-k cosine neighbours of query objects, every set."""

from skytext.analysis.steps import search_sets
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        search_sets(  # noqa: F821
            counts=list(snakemake.input.counts),  # noqa: F821
            embeddings=list(snakemake.input.embeddings),  # noqa: F821
            objects=list(snakemake.input.objects),  # noqa: F821
            search=dict(snakemake.params.search),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            out_table=snakemake.output.table,  # noqa: F821
            out_figures=snakemake.output.figures,  # noqa: F821
        )
