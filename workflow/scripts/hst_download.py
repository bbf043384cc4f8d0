"""One shard: download, verify and normalise its planned HST previews; write OBSERVATIONS and REJECTS."""

from skytext.sources.download import run_shard
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        run_shard(
            snakemake.input.plan,
            snakemake.input.rejects,
            snakemake.wildcards.shard,
            snakemake.params.hst,
            snakemake.params.image_dir,
            snakemake.params.quarantine_dir,
            snakemake.output.observations,
            snakemake.output.rejects,
        )
