"""Fetch and parse the STScI HST proposal-abstracts catalogue into the PROPOSALS table."""

from skytext.sources.abstracts import parse_abstracts
from skytext.core.contracts import PROPOSALS, REJECTS, write_table
from skytext.sources.download import DownloadPolicy, fetch_text
from skytext.core.smk import log_to


def main(url: str, download: dict, out_proposals: str, out_rejects: str) -> dict:
    """Write the tables; return the run summary (also printed to the log)."""
    policy = DownloadPolicy.from_config(download)
    proposals, rejects, fallbacks = parse_abstracts(fetch_text(url, policy))
    summary = {"proposals": len(proposals), "rejected": len(rejects), "decode_fallback": len(fallbacks)}
    print(f"{url}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    if fallbacks:
        where = ", ".join(f"{f['record_id']} (line {f['line']}, {f['legacy_bytes']} bytes)" for f in fallbacks)
        print(f"records not valid UTF-8, their odd bytes read as cp1252: {where}")
    write_table(proposals, out_proposals, PROPOSALS, "proposals")
    write_table(rejects, out_rejects, REJECTS, "proposal_rejects")
    return summary


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        main(snakemake.params.url, snakemake.params.download, snakemake.output.proposals, snakemake.output.rejects)
