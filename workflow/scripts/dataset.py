"""Entry script of rule dataset: gather the shards, reject what cannot be used, split by proposal."""

from skytext.core.smk import log_to
from skytext.images.dataset import run_dataset

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_dataset(  # noqa: F821
            observations=list(snakemake.input.observations),  # noqa: F821
            rejects=list(snakemake.input.rejects),  # noqa: F821
            proposals=snakemake.input.proposals,  # noqa: F821
            proposal_rejects=snakemake.input.proposal_rejects,  # noqa: F821
            out_observations=snakemake.output.observations,  # noqa: F821
            out_proposals=snakemake.output.proposals,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
            out_summary=snakemake.output.summary,  # noqa: F821
            cfg=dict(snakemake.params.dataset),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
