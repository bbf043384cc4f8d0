"""Entry script of rule spectra_demo_catalog: the demo X-ray sky's catalogue, papers and variables (one job)."""

from skytext.core.smk import log_to
from skytext.spectra.acquire import run_demo_catalog

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_demo_catalog(
            response=snakemake.input.response,  # noqa: F821
            catalog=snakemake.output.catalog,  # noqa: F821
            papers=snakemake.output.papers,  # noqa: F821
            links=snakemake.output.links,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            variables=snakemake.output.variables,  # noqa: F821
            demo=dict(snakemake.params.demo),  # noqa: F821
            n_channels=snakemake.params.n_channels,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
