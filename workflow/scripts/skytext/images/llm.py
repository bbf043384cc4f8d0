"""The image study's LLM stage: structured summaries of the proposal abstracts, one job per shard, gathered."""

from __future__ import annotations

import pandas as pd

from skytext.core.contracts import PROPOSALS, conform
from skytext.core.sharding import in_shard
from skytext.llm.summarise import gather, summarise_proposals, write_rejects, write_run, write_summaries


def run_summarise(proposals: str, prompt: str, vocab: str, shard: int, shards: int, llm: dict, out_summaries: str,
                  out_rejects: str, out_run: str) -> None:
    """Rule ``summarise``: summarise this shard's proposals with the configured backend (``llm`` section)."""
    props = conform(pd.read_parquet(proposals), PROPOSALS, proposals)
    props = props[in_shard(props["proposal_id"], shard, shards)]
    res = summarise_proposals(props, llm, prompt, vocab)
    print(f"shard {shard}/{shards}: {res.run['summarised']} summarised, {res.run['rejected']} rejected, "
          f"{res.run['calls']} calls, {res.run['cache_hits']} cache hits")
    write_summaries(res.summaries, out_summaries)
    write_rejects(res.rejects, out_rejects)
    write_run(res.run, out_run)


def run_gather_summaries(summaries: list[str], rejects: list[str], runs: list[str], prices: dict,
                         out_summaries: str, out_rejects: str, out_run: str) -> None:
    """Rule ``gather_summaries``: the shards' summaries, rejects and run summaries as one of each."""
    res = gather(summaries, rejects, runs, prices)
    print(f"{len(res.summaries)} summaries, {len(res.rejects)} rejects from {res.run['shards']} shards")
    write_summaries(res.summaries, out_summaries)
    write_rejects(res.rejects, out_rejects)
    write_run(res.run, out_run)
