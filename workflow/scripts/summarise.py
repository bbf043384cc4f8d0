"""Entry script of rule summarise: one shard of proposal abstracts summarised by the configured LLM backend."""

from skytext.core.smk import log_to
from skytext.images.llm import run_summarise

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_summarise(  # noqa: F821
            proposals=snakemake.input.proposals,  # noqa: F821
            prompt=snakemake.input.prompt,  # noqa: F821
            vocab=snakemake.input.vocab,  # noqa: F821
            shard=int(snakemake.wildcards.llm_shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
            llm=dict(snakemake.params.llm),  # noqa: F821
            out_summaries=snakemake.output.summaries,  # noqa: F821
            out_rejects=snakemake.output.rejects,  # noqa: F821
            out_run=snakemake.output.run,  # noqa: F821
        )
