"""Entry script of rule analysis_prepare: load, check and join one embedding set to its catalogue, split it."""

from skytext.analysis.steps import prepare_set
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        prepare_set(  # noqa: F821
            entry=dict(snakemake.params.entry),  # noqa: F821
            catalogue=dict(snakemake.params.catalogue),  # noqa: F821
            embeddings=snakemake.input.embeddings,  # noqa: F821
            catalogue_file=snakemake.input.catalogue,  # noqa: F821
            test_fraction=snakemake.params.test_fraction,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            out_embeddings=snakemake.output.embeddings,  # noqa: F821
            out_objects=snakemake.output.objects,  # noqa: F821
            out_counts=snakemake.output.counts,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
        )
