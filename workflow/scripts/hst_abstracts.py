"""Fetch and parse the STScI HST proposal-abstracts catalogue into the PROPOSALS table."""

from skytext.sources.abstracts import decode_catalogue, parse_abstracts
from skytext.core.contracts import PROPOSALS, REJECTS, write_table
from skytext.sources.download import RetryPolicy, fetch_text
from skytext.core.smk import log_to


def main(url: str, download: dict, out_proposals: str, out_rejects: str) -> None:
    policy = RetryPolicy.from_config(download)
    proposals, rejects = parse_abstracts(decode_catalogue(fetch_text(url, policy)))
    print(f"{len(proposals)} proposals, {len(rejects)} rejected records from {url}")
    write_table(proposals, out_proposals, PROPOSALS, "proposals")
    write_table(rejects, out_rejects, REJECTS, "proposal_rejects")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        main(snakemake.params.url, snakemake.params.download, snakemake.output.proposals, snakemake.output.rejects)
