"""Entry script for spectra_summarise: one shard of paper summaries (the text itself, or the LLM layer)."""

import pandas as pd

from skytext.core.contracts import rejects_frame
from skytext.core.sharding import in_shard
from skytext.core.smk import log_to
from skytext.llm.summarise import summarise_proposals, write_run
from skytext.spectra.texts import summary_texts


def main(input, output, params, shard: int) -> None:
    papers = pd.read_parquet(input["papers"])
    papers = papers[in_shard(papers["text_id"], shard, params["shards"])]
    if params["summaries"]["backend"] == "text":
        texts, rejects, run = summary_texts(papers, None), rejects_frame([]), {"backend": "text", "papers": len(papers)}
    else:  # the shared LLM layer: papers play the part of proposals (text_id as the id)
        props = pd.DataFrame({"proposal_id": papers["text_id"], "title": papers["title"], "category": "",
                              "cycle": pd.NA, "pi": "", "prop_type": "", "abstract": papers["abstract"]})
        res = summarise_proposals(props, params["llm"], input["prompt"], params["llm"]["vocab"])
        texts, rejects, run = summary_texts(papers, res.summaries), res.rejects, res.run
        rejects["record_type"] = "paper"
    texts.to_parquet(output["texts"], index=False)
    rejects.to_parquet(output["rejects"], index=False)
    write_run(run, output["run"])
    print(f"shard {shard}: {len(texts)} summaries, {len(rejects)} rejects")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, int(snakemake.wildcards.sum_shard))  # noqa: F821
