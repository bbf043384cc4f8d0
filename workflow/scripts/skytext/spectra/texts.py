"""Text side of the spectra study: summaries (the paper text itself offline, or LLM summaries), their
embeddings (sentence-transformers or OpenAI), and the per-source pooled text embedding."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from skytext.core.contracts import REJECTS, conform, rejects_frame
from skytext.core.sharding import in_shard
from skytext.core.smk import threads_for_torch
from skytext.llm.summarise import summarise_proposals, write_run

STAGE = "spectra_embed_text"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def summary_texts(papers: pd.DataFrame, summaries: pd.DataFrame | None) -> pd.DataFrame:
    """text_id, text: the LLM summary where one exists (objects; uses), else nothing (those papers were
    rejected by the summarise stage); with ``summaries=None`` the title and abstract themselves."""
    if summaries is None:
        return pd.DataFrame({"text_id": papers["text_id"].astype(str),
                             "text": (papers["title"].fillna("") + ". " + papers["abstract"].fillna("")).astype(str)})
    from skytext.core.captions import summary_text

    text = [summary_text(list(o), list(u)) for o, u in zip(summaries["objects_and_phenomena"], summaries["science_use_cases"])]
    return pd.DataFrame({"text_id": summaries["proposal_id"].astype(str), "text": text})


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split after . ! or ? followed by whitespace and a capital letter); the whole
    text when it has none."""
    parts = [p.strip() for p in SENTENCE_END.split(text) if p.strip()]
    return parts or [text]


def _embed_units(units: list[str], cfg: dict, llm_cfg: dict):
    """(vectors of the embedded units [k, d], their indices into ``units``, {index: (reason, detail)} of the
    rest) with the configured backend."""
    if cfg["backend"] == "sentence-transformers":
        from skytext.align import text_encoder

        model = text_encoder.load(cfg["model"], cfg["device"])
        return text_encoder.encode(model, units, cfg["batch_size"]), list(range(len(units))), {}
    from skytext.llm.embeddings import embed_openai, make_client

    client = make_client(cfg, cfg["model"], llm_cfg)
    try:
        got, bad = embed_openai(units, cfg["model"], client, cfg["cache_dir"], cfg["batch_size"])
    finally:
        client.close()
    ok = sorted(got)
    vec = np.stack([got[i] for i in ok]) if ok else np.zeros((0, 1), np.float32)
    return vec, ok, bad


def embed(texts: pd.DataFrame, cfg: dict, llm_cfg: dict) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """(embeddings [m, d] L2-normalised, their text_ids, rejects) for ``texts`` (text_id, text), each cut to
    ``max_chars``. ``granularity`` text: one embedding of the whole text; sentence: every sentence
    (:func:`sentences`) embedded on its own and their mean, L2-normalised, is the text's embedding (a text is
    rejected when any of its sentences is)."""
    if cfg["granularity"] not in ("text", "sentence"):
        raise ValueError(f"text_encoder granularity {cfg['granularity']!r} is not text or sentence")
    cut = [t[: cfg["max_chars"]] for t in texts["text"]]
    split = [sentences(t) if cfg["granularity"] == "sentence" else [t] for t in cut]
    units = [u for parts in split for u in parts]
    owner = np.repeat(np.arange(len(cut)), [len(p) for p in split])
    vec_u, ok_u, bad_u = _embed_units(units, cfg, llm_cfg)
    bad = {}
    for i, (r, d) in sorted(bad_u.items()):
        bad.setdefault(int(owner[i]), (r, d))
    ok = [i for i in range(len(cut)) if i not in bad]
    d = vec_u.shape[1] if vec_u.ndim == 2 and len(vec_u) else 1
    sums = np.zeros((len(cut), d), np.float64)
    if len(ok_u):
        np.add.at(sums, owner[ok_u], vec_u.astype(np.float64))
    vec = sums[ok]
    vec = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12) if len(vec) else np.zeros((0, d))
    rej = [{"record_type": "paper", "record_id": texts["text_id"].iloc[i], "stage": STAGE, "reason": r, "detail": d_}
           for i, (r, d_) in sorted(bad.items())]
    return (vec.astype(np.float32), texts.iloc[ok][["text_id"]].reset_index(drop=True),
            rejects_frame(rej))


def pool(vec: np.ndarray, text_ids: pd.Series, links: pd.DataFrame, sources: pd.DataFrame, weighting: str):
    """(pooled [s, d] L2-normalised weighted mean of each source's text embeddings, rows: source_id, split,
    paper_set) for the sources with at least one embedded text, in the order of ``sources``. ``weighting``
    equal: every paper of a source counts the same; per_source: a paper counts 1/(sources it discusses), so a
    population paper about ten sources adds a tenth of what a paper about this source alone adds."""
    if weighting not in ("equal", "per_source"):
        raise ValueError(f"pool weighting {weighting!r} is not equal or per_source")
    pos = {t: i for i, t in enumerate(text_ids.astype(str))}
    lk = links[links["text_id"].astype(str).isin(pos)]
    n_src = lk["text_id"].astype(str).value_counts()
    by_src = lk.groupby("source_id")["text_id"].apply(lambda s: sorted(map(str, s))).to_dict()
    rows, out = [], []
    for sid, split in zip(sources["source_id"].astype(str), sources["split"].astype(str)):
        tids = by_src.get(sid)
        if not tids:
            continue
        w = np.ones(len(tids)) if weighting == "equal" else 1.0 / n_src.loc[tids].to_numpy(float)
        v = (vec[[pos[t] for t in tids]] * w[:, None]).sum(axis=0) / w.sum()
        out.append(v / max(float(np.linalg.norm(v)), 1e-12))
        rows.append({"source_id": sid, "split": split, "paper_set": "|".join(tids)})
    meta = pd.DataFrame(rows, columns=["source_id", "split", "paper_set"]).astype("string")
    d = vec.shape[1] if vec.ndim == 2 else 1
    return (np.stack(out) if out else np.zeros((0, d))).astype(np.float32), meta


def run_summarise(papers: str, prompt: str, texts_out: str, rejects_out: str, run_out: str, backend: str,
                  llm: dict, shard: int, shards: int) -> None:
    """Rule spectra_summarise: one shard of paper summaries (``backend`` text: the paper itself; llm: the
    shared LLM layer with ``llm``, the whole llm section, which that layer reads)."""
    pap = pd.read_parquet(papers)
    pap = pap[in_shard(pap["text_id"], shard, shards)]
    if backend == "text":
        texts, rejects, run = summary_texts(pap, None), rejects_frame([]), {"backend": "text", "papers": len(pap)}
    else:  # papers play the part of proposals (text_id as the id)
        props = pd.DataFrame({"proposal_id": pap["text_id"], "title": pap["title"], "category": "", "cycle": pd.NA,
                              "pi": "", "prop_type": "", "abstract": pap["abstract"]})
        res = summarise_proposals(props, llm, prompt, llm["vocab"])
        texts, rejects, run = summary_texts(pap, res.summaries), res.rejects, res.run
        rejects["record_type"] = "paper"
    texts.to_parquet(texts_out, index=False)
    rejects.to_parquet(rejects_out, index=False)
    write_run(run, run_out)
    print(f"shard {shard}: {len(texts)} summaries, {len(rejects)} rejects")


def whole_text_pooled(tx: pd.DataFrame, text_encoder: dict, retry: dict, links: pd.DataFrame, src: pd.DataFrame,
                      meta: pd.DataFrame, pooled: np.ndarray) -> np.ndarray:
    """Each source of ``meta`` pooled from embeddings of its texts taken whole (granularity text), rows as
    ``pooled``; a source none of whose texts embed whole keeps its ``pooled`` row. With granularity text this
    is ``pooled`` itself. (The outlier ranking's text space: a paper's one unusual sentence moves its whole-text
    embedding, and is averaged away among its sentences.)"""
    if text_encoder["granularity"] == "text":
        return pooled
    vec, ids, _ = embed(tx, {**text_encoder, "granularity": "text"}, retry)
    whole, wmeta = pool(vec, ids["text_id"], links, src, text_encoder["pool_weighting"])
    row = {s: i for i, s in enumerate(wmeta["source_id"].astype(str))}
    out = pooled.copy()
    for j, sid in enumerate(meta["source_id"].astype(str)):
        if sid in row:
            out[j] = whole[row[sid]]
    return out


def run_embed_text(texts: list[str], rejects: list[str], sources: str, links: str, papers_out: str,
                   paper_ids_out: str, text_out: str, text_ids_out: str, text_whole_out: str, rejects_out: str,
                   text_encoder: dict, retry: dict, threads: int) -> None:
    """Rule spectra_embed_text: embed every summary, pool per source (embed/text.npy), and the same pooled from
    whole-text embeddings (embed/text_whole.npy, rows of text.parquet: :func:`whole_text_pooled`); ``retry``:
    the llm section's timeout and retry leaves (openai backend)."""
    threads_for_torch(threads)
    tx = pd.concat([pd.read_parquet(p) for p in texts], ignore_index=True).sort_values("text_id")
    tx = tx.reset_index(drop=True)
    vec, ids, rej = embed(tx, text_encoder, retry)
    src, lk = pd.read_parquet(sources), pd.read_parquet(links)
    pooled, meta = pool(vec, ids["text_id"], lk, src, text_encoder["pool_weighting"])
    np.save(papers_out, vec)
    ids.astype("string").to_parquet(paper_ids_out, index=False)
    np.save(text_out, pooled)
    np.save(text_whole_out, whole_text_pooled(tx, text_encoder, retry, lk, src, meta, pooled))
    meta.to_parquet(text_ids_out, index=False)
    prior = [pd.read_parquet(p) for p in rejects]
    allrej = pd.concat([conform(r, REJECTS) for r in [*prior, rej] if len(r)] or [rej], ignore_index=True)
    allrej[[c.name for c in REJECTS]].to_parquet(rejects_out, index=False)
    print(f"{len(vec)} texts embedded (dim {vec.shape[1]}), {len(meta)} of {len(src)} sources have text, "
          f"{len(allrej)} rejects")
