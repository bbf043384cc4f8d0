"""Entry script of rule spectra_summarise: one shard of paper summaries (the text itself, or the LLM layer)."""

from skytext.core.smk import log_to
from skytext.spectra.texts import run_summarise

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_summarise(
            papers=snakemake.input.papers,  # noqa: F821
            prompt=snakemake.input.prompt,  # noqa: F821
            texts_out=snakemake.output.texts,  # noqa: F821
            rejects_out=snakemake.output.rejects,  # noqa: F821
            run_out=snakemake.output.run,  # noqa: F821
            backend=snakemake.params.backend,  # noqa: F821
            llm=dict(snakemake.params.llm),  # noqa: F821
            shard=int(snakemake.wildcards.sum_shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
        )
