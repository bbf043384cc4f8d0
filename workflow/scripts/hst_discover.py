"""Entry script of rule hst_discover: ask MAST which HST products to download; write the plan and its rejects."""

from skytext.core.smk import log_to
from skytext.images.acquire_hst import run_hst_discover

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_hst_discover(  # noqa: F821
            proposals=snakemake.input.proposals,  # noqa: F821
            hst=dict(snakemake.params.hst),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            out_plan=snakemake.output.plan,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
        )
