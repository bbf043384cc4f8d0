"""Summarise one shard of proposal abstracts with the configured LLM backend (rule ``summarise``)."""

import pandas as pd

from skytext.core.contracts import PROPOSALS, conform
from skytext.llm.summarise import summarise_proposals, write_rejects, write_run, write_summaries
from skytext.core.sharding import in_shard
from skytext.core.smk import log_to


def main(proposals: str, shard: int, n_shards: int, llm: dict, prompt: str, vocab: str, out) -> None:
    props = conform(pd.read_parquet(proposals), PROPOSALS, proposals)
    props = props[in_shard(props["proposal_id"], shard, n_shards)]
    res = summarise_proposals(props, llm, prompt, vocab)
    print(f"shard {shard}/{n_shards}: {res.run['summarised']} summarised, {res.run['rejected']} rejected, "
          f"{res.run['calls']} calls, {res.run['cache_hits']} cache hits")
    write_summaries(res.summaries, out.summaries)
    write_rejects(res.rejects, out.rejects)
    write_run(res.run, out.run)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        main(snakemake.input.proposals, int(snakemake.wildcards.llm_shard), snakemake.params.shards,
             snakemake.params.llm, snakemake.input.prompt, snakemake.input.vocab, snakemake.output)
