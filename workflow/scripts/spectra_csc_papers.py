"""Entry script of rule spectra_csc_papers: the shards' papers and links gathered (one job)."""

from skytext.core.smk import log_to
from skytext.spectra.acquire import run_csc_papers

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_csc_papers(
            papers=list(snakemake.input.papers),  # noqa: F821
            links=list(snakemake.input.links),  # noqa: F821
            papers_out=snakemake.output.papers,  # noqa: F821
            links_out=snakemake.output.links,  # noqa: F821
        )
