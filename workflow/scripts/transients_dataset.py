"""Entry script of rule transients_dataset: the shards gathered, every triplet checked, split by a seeded hash."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_dataset

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_dataset(  # noqa: F821
            meta=list(snakemake.input.meta),  # noqa: F821
            rejects=list(snakemake.input.rejects),  # noqa: F821
            out_triplets=snakemake.output.triplets,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
            out_summary=snakemake.output.summary,  # noqa: F821
            split=dict(snakemake.params.split),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            size=snakemake.params.size,  # noqa: F821
        )
