"""Entry script of rule spectra_dataset: gather shards, read every PHA onto the grid, reject bad input, split by source."""

from skytext.core.smk import log_to
from skytext.spectra.dataset import run_dataset

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_dataset(
            observations=list(snakemake.input.observations),  # noqa: F821
            rejects=list(snakemake.input.rejects),  # noqa: F821
            catalog=snakemake.input.catalog,  # noqa: F821
            catalog_rejects=snakemake.input.catalog_rejects,  # noqa: F821
            papers=snakemake.input.papers,  # noqa: F821
            links=snakemake.input.links,  # noqa: F821
            variables=snakemake.input.variables,  # noqa: F821
            response=snakemake.input.response,  # noqa: F821
            sources_out=snakemake.output.sources,  # noqa: F821
            observations_out=snakemake.output.observations,  # noqa: F821
            papers_out=snakemake.output.papers,  # noqa: F821
            links_out=snakemake.output.links,  # noqa: F821
            rejects_out=snakemake.output.rejects,  # noqa: F821
            counts_out=snakemake.output.counts,  # noqa: F821
            summary_out=snakemake.output.summary,  # noqa: F821
            dataset=dict(snakemake.params.dataset),  # noqa: F821
            n_channels=snakemake.params.n_channels,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
