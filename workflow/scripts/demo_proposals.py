"""Entry script of rule demo_proposals: the demo sky's proposals (one job)."""

from skytext.core.smk import log_to
from skytext.images.acquire_demo import run_demo_proposals

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_demo_proposals(  # noqa: F821
            demo=dict(snakemake.params.demo),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            out_proposals=snakemake.output.proposals,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
        )
