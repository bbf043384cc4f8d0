"""Entry script of rule hst_download: one shard's planned HST previews downloaded, verified and normalised."""

from skytext.core.smk import log_to
from skytext.sources.download import run_shard

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_shard(  # noqa: F821
            plan_path=snakemake.input.plan,  # noqa: F821
            plan_rejects_path=snakemake.input.rejects,  # noqa: F821
            shard=snakemake.wildcards.shard,  # noqa: F821
            hst=dict(snakemake.params.hst),  # noqa: F821
            image_dir=snakemake.params.image_dir,  # noqa: F821
            quarantine_dir=snakemake.params.quarantine_dir,  # noqa: F821
            out_observations=snakemake.output.observations,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
        )
