"""Text side of the spectra study: summaries (the paper text itself offline, or LLM summaries), their
embeddings (sentence-transformers or OpenAI), and the per-source pooled text embedding."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skytext.core.contracts import rejects_frame

STAGE = "spectra_embed_text"


def summary_texts(papers: pd.DataFrame, summaries: pd.DataFrame | None) -> pd.DataFrame:
    """text_id, text: the LLM summary where one exists (objects; uses), else nothing (those papers were
    rejected by the summarise stage); with ``summaries=None`` the title and abstract themselves."""
    if summaries is None:
        return pd.DataFrame({"text_id": papers["text_id"].astype(str),
                             "text": (papers["title"].fillna("") + ". " + papers["abstract"].fillna("")).astype(str)})
    from skytext.core.captions import summary_text

    text = [summary_text(list(o), list(u)) for o, u in zip(summaries["objects_and_phenomena"], summaries["science_use_cases"])]
    return pd.DataFrame({"text_id": summaries["proposal_id"].astype(str), "text": text})


def embed(texts: pd.DataFrame, cfg: dict, llm_cfg: dict) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """(embeddings [m, d] L2-normalised, their text_ids, rejects) for ``texts`` (text_id, text)."""
    cut = [t[: cfg["max_chars"]] for t in texts["text"]]
    if cfg["backend"] == "sentence-transformers":
        from skytext.align import text_encoder

        model = text_encoder.load(cfg["model"])
        vec = text_encoder.encode(model, cut, cfg["batch_size"])
        return vec, texts[["text_id"]].reset_index(drop=True), rejects_frame([])
    from skytext.llm.embeddings import embed_openai, make_client

    client = make_client(cfg, cfg["model"], llm_cfg)
    try:
        got, bad = embed_openai(cut, cfg["model"], client, cfg["cache_dir"], cfg["batch_size"])
    finally:
        client.close()
    ok = sorted(got)
    rej = [{"record_type": "paper", "record_id": texts["text_id"].iloc[i], "stage": STAGE, "reason": r, "detail": d}
           for i, (r, d) in sorted(bad.items())]
    vec = np.stack([got[i] for i in ok]) if ok else np.zeros((0, 1), np.float32)
    return vec.astype(np.float32), texts.iloc[ok][["text_id"]].reset_index(drop=True), rejects_frame(rej)


def pool(vec: np.ndarray, text_ids: pd.Series, links: pd.DataFrame, sources: pd.DataFrame):
    """(pooled [s, d] L2-normalised mean of each source's text embeddings, rows: source_id, split, paper_set)
    for the sources with at least one embedded text, in the order of ``sources``."""
    pos = {t: i for i, t in enumerate(text_ids.astype(str))}
    lk = links[links["text_id"].astype(str).isin(pos)]
    by_src = lk.groupby("source_id")["text_id"].apply(lambda s: sorted(map(str, s))).to_dict()
    rows, out = [], []
    for sid, split in zip(sources["source_id"].astype(str), sources["split"].astype(str)):
        tids = by_src.get(sid)
        if not tids:
            continue
        v = vec[[pos[t] for t in tids]].mean(axis=0)
        out.append(v / max(float(np.linalg.norm(v)), 1e-12))
        rows.append({"source_id": sid, "split": split, "paper_set": "|".join(tids)})
    meta = pd.DataFrame(rows, columns=["source_id", "split", "paper_set"]).astype("string")
    d = vec.shape[1] if vec.ndim == 2 else 1
    return (np.stack(out) if out else np.zeros((0, d))).astype(np.float32), meta
