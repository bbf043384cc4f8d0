"""Gather the summarise shards into one summaries table, one rejects table and one run summary."""

from skytext.llm.summarise import gather, write_rejects, write_run, write_summaries
from skytext.core.smk import log_to


def main(inp, out, prices: dict) -> None:
    res = gather(list(inp.summaries), list(inp.rejects), list(inp.runs), prices)
    print(f"{len(res.summaries)} summaries, {len(res.rejects)} rejects from {res.run['shards']} shards")
    write_summaries(res.summaries, out.summaries)
    write_rejects(res.rejects, out.rejects)
    write_run(res.run, out.run)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        main(snakemake.input, snakemake.output, snakemake.params.prices)
