"""Entry script of rule transients_meerlicht: one validated acquisition shard of the MeerLICHT files."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_meerlicht

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_meerlicht(  # noqa: F821
            fetch_json=snakemake.input.fetch,  # noqa: F821
            triplets=snakemake.output.triplets,  # noqa: F821
            meta=snakemake.output.meta,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            summary=snakemake.output.summary,  # noqa: F821
            meerlicht=dict(snakemake.params.meerlicht),  # noqa: F821
            shard=int(snakemake.params.shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
        )
