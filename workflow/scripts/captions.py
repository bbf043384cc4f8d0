"""Entry script of rule captions: one caption type's table and the proposals left without one."""

from skytext.core.smk import log_to
from skytext.images.captions import run_captions

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_captions(  # noqa: F821
            proposals=snakemake.input.proposals,  # noqa: F821
            summaries=list(snakemake.input.summaries),  # noqa: F821
            caption=snakemake.wildcards.caption,  # noqa: F821
            category_prefix=snakemake.params.category_prefix,  # noqa: F821
            out_captions=snakemake.output.captions,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
        )
