"""Entry script of rule demo_observations: the demo sky's observations, one job per shard."""

from skytext.core.smk import log_to
from skytext.images.acquire_demo import run_demo_observations

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_demo_observations(  # noqa: F821
            demo=dict(snakemake.params.demo),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            shard=int(snakemake.wildcards.shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
            image_dir=snakemake.params.image_dir,  # noqa: F821
            out_observations=snakemake.output.observations,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
        )
