"""Entry script of rule analysis_pairs: CKA, mutual kNN and per-object cosine for every pair of sets."""

from skytext.analysis.steps import pair_sets
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        pair_sets(  # noqa: F821
            counts=list(snakemake.input.counts),  # noqa: F821
            embeddings=list(snakemake.input.embeddings),  # noqa: F821
            objects=list(snakemake.input.objects),  # noqa: F821
            pairs=dict(snakemake.params.pairs),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            out_table=snakemake.output.table,  # noqa: F821
            out_figure=snakemake.output.figure,  # noqa: F821
            out_cosines=snakemake.output.cosines,  # noqa: F821
        )
