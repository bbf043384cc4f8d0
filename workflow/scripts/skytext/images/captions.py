"""The image study's caption tables: one per caption type (abstract, title, summary), keyed by text_id."""

from __future__ import annotations

import pandas as pd

from skytext.core.captions import caption_table
from skytext.core.contracts import rejects_frame


def missing_caption_rejects(proposals: pd.DataFrame, captions: pd.DataFrame, caption: str) -> pd.DataFrame:
    """A ``no_caption`` reject for every proposal without a caption of type ``caption``."""
    missing = sorted(set(proposals["proposal_id"]) - set(captions["proposal_id"]))
    return rejects_frame([{"record_type": "proposal", "record_id": p, "stage": "captions", "reason": "no_caption",
                           "detail": f"no {caption} caption for proposal {p}"} for p in missing])


def run_captions(proposals: str, summaries: list[str], caption: str, category_prefix: bool, out_captions: str,
                 out_rejects: str) -> None:
    """Rule ``captions``: the captions of type ``caption`` and the proposals left without one.

    ``summaries``: the LLM summaries table as a one-element list for the ``summary`` type, else empty.
    """
    props = pd.read_parquet(proposals)
    summary_table = pd.read_parquet(summaries[0]) if summaries else None
    caps = caption_table(caption, props, summary_table, category_prefix)
    caps.to_parquet(out_captions, index=False)
    rejects = missing_caption_rejects(props, caps, caption)
    rejects.to_parquet(out_rejects, index=False)
    print(f"{len(caps)} {caption} captions, {len(rejects)} proposals without one")
