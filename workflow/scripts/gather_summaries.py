"""Entry script of rule gather_summaries: the summarise shards as one summaries, one rejects and one run table."""

from skytext.core.smk import log_to
from skytext.images.llm import run_gather_summaries

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_gather_summaries(  # noqa: F821
            summaries=list(snakemake.input.summaries),  # noqa: F821
            rejects=list(snakemake.input.rejects),  # noqa: F821
            runs=list(snakemake.input.runs),  # noqa: F821
            prices=dict(snakemake.params.prices),  # noqa: F821
            out_summaries=snakemake.output.summaries,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
            out_run=snakemake.output.run,  # noqa: F821
        )
