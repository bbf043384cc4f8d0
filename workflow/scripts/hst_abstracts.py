"""Entry script of rule hst_abstracts: fetch and parse the STScI HST proposal-abstracts catalogue."""

from skytext.core.smk import log_to
from skytext.images.acquire_hst import run_hst_abstracts

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_hst_abstracts(  # noqa: F821
            url=snakemake.params.url,  # noqa: F821
            download=dict(snakemake.params.download),  # noqa: F821
            out_proposals=snakemake.output.proposals,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
        )
