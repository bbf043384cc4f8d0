"""The image study's HST source: the STScI abstracts catalogue and the MAST discovery plan (the downloads
themselves are :func:`skytext.sources.download.run_shard`, called by rule ``hst_download``)."""

from __future__ import annotations

from skytext.core.contracts import PROPOSALS, REJECTS, read_table, write_table
from skytext.sources.abstracts import parse_abstracts
from skytext.sources.download import DownloadPolicy, fetch_text
from skytext.sources.mast import build_plan


def run_hst_abstracts(url: str, download: dict, out_proposals: str, out_rejects: str) -> dict:
    """Rule ``hst_abstracts``: fetch and parse the STScI abstracts catalogue; returns the run summary.

    ``download``: the retry leaves of ``images.hst.download`` (timeout_s, retries, backoff_s, backoff_max_s).
    """
    proposals, rejects, fallbacks = parse_abstracts(fetch_text(url, DownloadPolicy.from_config(download)))
    summary = {"proposals": len(proposals), "rejected": len(rejects), "decode_fallback": len(fallbacks)}
    print(f"{url}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    if fallbacks:
        where = ", ".join(f"{f['record_id']} (line {f['line']}, {f['legacy_bytes']} bytes)" for f in fallbacks)
        print(f"records not valid UTF-8, their odd bytes read as cp1252: {where}")
    write_table(proposals, out_proposals, PROPOSALS, "proposals")
    write_table(rejects, out_rejects, REJECTS, "proposal_rejects")
    return summary


def run_hst_discover(proposals: str, hst: dict, shards: int, seed: int, out_plan: str, out_rejects: str) -> None:
    """Rule ``hst_discover``: ask MAST which products to download; write the plan and its rejects.

    ``hst``: the leaves of ``images.hst`` that :func:`skytext.sources.mast.build_plan` reads.
    """
    plan, rejects = build_plan(hst, read_table(proposals, PROPOSALS), shards, seed)
    plan.to_parquet(out_plan, index=False)
    rejects.to_parquet(out_rejects, index=False)
