"""Caption types built from the text sources: one row per text, keyed by ``text_id``."""

from __future__ import annotations

import pandas as pd

from skytext.core.contracts import CAPTIONS, conform

CAPTION_TYPES = ("abstract", "title", "summary")


def _prefix(category: str, on: bool) -> str:
    return f"Category: {category}. " if on and category else ""


def summary_text(objects: list[str], uses: list[str]) -> str:
    """The ``summary`` caption: PAPERCLIP's two lists joined into sentences."""
    parts = []
    if len(objects):
        parts.append("Objects and phenomena: " + ", ".join(map(str, objects)) + ".")
    if len(uses):
        parts.append("Science use cases: " + ", ".join(map(str, uses)) + ".")
    return " ".join(parts)


def caption_table(caption: str, proposals: pd.DataFrame, summaries: pd.DataFrame | None,
                  category_prefix: bool) -> pd.DataFrame:
    """The captions table of type ``caption`` for ``proposals`` (contract CAPTIONS); ``summaries`` (the LLM's
    table) is needed for the ``summary`` type only; ``category_prefix`` starts each text with its category."""
    if caption not in CAPTION_TYPES:
        raise ValueError(f"caption type {caption!r} unknown; choose one of {', '.join(CAPTION_TYPES)}")
    p = proposals
    if caption == "abstract":
        text = [_prefix(c, category_prefix) + a for c, a in zip(p["category"].fillna(""), p["abstract"].fillna(""))]
        df = pd.DataFrame({"proposal_id": p["proposal_id"], "text": text})
    elif caption == "title":
        text = [_prefix(c, category_prefix) + t for c, t in zip(p["category"].fillna(""), p["title"].fillna(""))]
        df = pd.DataFrame({"proposal_id": p["proposal_id"], "text": text})
    else:
        if summaries is None:
            raise ValueError("caption 'summary' needs LLM summaries (set llm.backend)")
        s = summaries.set_index(summaries["proposal_id"].astype(str))
        have = p["proposal_id"].astype(str).isin(s.index)
        rows = [(pid, summary_text(s.at[pid, "objects_and_phenomena"], s.at[pid, "science_use_cases"]))
                for pid in p.loc[have, "proposal_id"].astype(str)]
        df = pd.DataFrame(rows, columns=["proposal_id", "text"])
    df = df[df["text"].str.strip().str.len() > 0]
    df = df.assign(text_id=df["proposal_id"], caption=caption)
    return conform(df[["text_id", "proposal_id", "caption", "text"]], CAPTIONS, f"captions/{caption}")
