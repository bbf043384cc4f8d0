"""Entry script of rule spectra_csc_catalog: the CSC master-source query and the source's variables (one job)."""

from skytext.core.smk import log_to
from skytext.spectra.acquire import run_csc_catalog

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_csc_catalog(
            catalog=snakemake.output.catalog,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            variables=snakemake.output.variables,  # noqa: F821
            csc=dict(snakemake.params.csc),  # noqa: F821
        )
