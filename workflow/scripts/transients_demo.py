"""Entry script of rule transients_demo: one acquisition shard of seeded demo triplets."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_demo

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_demo(  # noqa: F821
            triplets=snakemake.output.triplets,  # noqa: F821
            meta=snakemake.output.meta,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            demo=dict(snakemake.params.demo),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            shard=int(snakemake.params.shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
        )
