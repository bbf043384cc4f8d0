"""Text queries against an embedding index: prompt-template ensembling, scores calibrated against background
phrases, the "no good match" threshold, and reading an index folder written by the image study.

A query is embedded through templates (``resources/vocab/query_templates.txt``, as CLIP's "a photo of a {}.")
and averaged; each image's score is ``(q·x - mean_b b·x) / std_b b·x`` over background phrases
(:class:`Calibration`); below a threshold chosen on the val split (:func:`choose_threshold`, the
``search_eval`` rule) a query gets "no good match". Exact top-k: :func:`skytext.eval.search.topk`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from skytext.core.vocab import read_lines

if TYPE_CHECKING:  # pandas is imported where tables are read
    import pandas as pd

from skytext.eval.search import DEFAULT_CHUNK, _as_matrix, _block, _spans, topk

VOCAB = Path(__file__).resolve().parents[4] / "resources" / "vocab"  # of the checkout this file is in
TEMPLATES_FILE = VOCAB / "query_templates.txt"  # prompt templates for text queries
BACKGROUND_FILE = VOCAB / "descriptions.txt"  # the phrases a calibrated score is measured against
log = logging.getLogger(__name__)


def read_templates(path: str | os.PathLike) -> list[str]:
    """Prompt templates (one a line, ``{}`` where the query goes), checked."""
    templates = read_lines(path)
    for t in templates:
        if t.count("{}") != 1:
            raise ValueError(f"{path}: template {t!r} must contain {{}} exactly once")
    return templates


def plural(phrase: str) -> str:
    """The phrase with a naive English plural of its last word (galaxy -> galaxies, nebula -> nebulae,
    cluster -> clusters); unchanged when the last word is not plain lower-case letters or ends in s."""
    words = phrase.split()
    last = words[-1] if words else ""
    if not (last.isalpha() and last.islower()) or last.endswith("s"):
        return phrase
    if last.endswith("a"):
        last += "e"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "es" if last.endswith(("x", "ch", "sh")) else "s"
    return " ".join(words[:-1] + [last])


def query_texts(query: str, templates: Sequence[str] | None = None) -> list[str]:
    """Every text a query is embedded as: each template filled with the query and with its :func:`plural`
    (``templates=None``: just the query as typed)."""
    if templates is None:
        return [query]
    forms = dict.fromkeys([query.strip(), plural(query.strip())])
    return list(dict.fromkeys(t.format(f) for t in templates for f in forms))


def encode_text(model, tokenizer, texts: Sequence[str], device: str = "cpu", batch_size: int = 256) -> np.ndarray:
    """L2-normalised float32 text embeddings ``[len(texts), d]``."""
    out = []
    with torch.inference_mode():
        for s in range(0, len(texts), batch_size):
            feats = model.encode_text(tokenizer(list(texts[s : s + batch_size])).to(device)).float()
            out.append((feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)).cpu().numpy())
    return np.concatenate(out)


def encode_queries(model, tokenizer, queries: Sequence[str], templates: Sequence[str] | None = None,
                   device: str = "cpu") -> np.ndarray:
    """Prompt ensembling as in CLIP: each query is the normalised mean of the normalised embeddings of its
    :func:`query_texts` (``templates=None``: the query as typed). float32 ``[len(queries), d]``."""
    texts = [query_texts(q, templates) for q in queries]
    emb = encode_text(model, tokenizer, [t for ts in texts for t in ts], device)
    ends = np.cumsum([len(ts) for ts in texts])
    means = np.stack([emb[e - len(ts) : e].mean(axis=0) for ts, e in zip(texts, ends)])
    return (means / np.linalg.norm(means, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------------------------- calibration
@dataclass
class Calibration:
    """A score on a common scale for every query and image, measured against background phrases.

    The calibrated score of query ``q`` on image ``x`` is ``z = (q.x - mean_b(b.x)) / std_b(b.x)`` over the
    background phrases ``b``: how far the query beats the typical phrase *on that image*, in that image's
    standard deviations. Raw cosines of a CLIP-style model share a large offset (every text is close to
    every image, nonsense included) and some images score high for everything; the background removes both.
    ``z`` is an inner product of ``q - mean`` with the image scaled by ``1 / std``, so it is searched
    exactly by :func:`topk` with ``key_weights``.
    """

    mean: np.ndarray  # [d] mean background embedding
    centred: np.ndarray  # [B, d] background embeddings minus the mean

    @classmethod
    def from_embeddings(cls, background: np.ndarray) -> "Calibration":
        b = _as_matrix("background", background).astype(np.float32)
        if len(b) < 2:
            raise ValueError("a calibration needs at least 2 background phrases")
        return cls(mean=b.mean(axis=0), centred=b - b.mean(axis=0))

    def key_scales(self, keys, chunk_size: int = DEFAULT_CHUNK, device: str = "cpu") -> np.ndarray:
        """``1 / std_b(b.x)`` of every key ``x``: float32 ``[nk]``, a chunk of keys at a time."""
        kk = _as_matrix("keys", keys)
        dev = torch.device(device)
        c = torch.from_numpy(self.centred).to(dev)
        out = np.empty(kk.shape[0], dtype=np.float32)
        with torch.inference_mode():
            for k0, k1 in _spans(kk.shape[0], chunk_size):
                s = c @ _block("keys", kk, k0, k1, dev, False).T
                out[k0:k1] = (1.0 / s.square().mean(dim=0).sqrt().clamp_min(1e-6)).cpu().numpy()
        return out

    def search(self, queries: np.ndarray, keys, k: int, scales: np.ndarray | None = None, **kw):
        """``(scores, indices, cosines)`` of the ``k`` best keys of each query by calibrated score."""
        q = _as_matrix("queries", queries).astype(np.float32)
        scales = self.key_scales(keys) if scales is None else scales
        z, idx = topk(q - self.mean, keys, k, key_weights=scales, **kw)
        hits = np.asarray(keys[np.unique(idx)], dtype=np.float32)  # each hit read once (memory maps too)
        pos = np.searchsorted(np.unique(idx), idx)
        return z, idx, np.einsum("qd,qkd->qk", q, hits[pos])


def choose_threshold(positive, null) -> float:
    """The score cut that best separates in-domain queries' best scores from off-topic ones' (``null``).

    Maximises Youden's J (fraction of ``positive`` at or above the cut minus fraction of ``null``) over the
    midpoints between consecutive distinct scores; among equal J the highest cut (fewest false matches).
    """
    pos, neg = np.asarray(positive, dtype=np.float64).ravel(), np.asarray(null, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("choosing a threshold needs positive and null scores")
    v = np.unique(np.concatenate([pos, neg]))
    cuts = np.concatenate([[v[0] - 1.0], (v[1:] + v[:-1]) / 2, [v[-1] + 1.0]])
    j = (pos[:, None] >= cuts).mean(axis=0) - (neg[:, None] >= cuts).mean(axis=0)
    return float(cuts[np.flatnonzero(j == j.max())[-1]])


# ----------------------------------------------------------------------------------------------- index search
class _DropRandomInit(logging.Filter):
    """open_clip warns "Model initialized randomly" before our weights are loaded into the model."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


def load_model(model_json: str | Path, device: str = "cpu"):
    """``(model, tokenizer, preprocess)`` for a ``model.json``: :func:`skytext.align.models.load_for_inference`.

    open_clip's "Model initialized randomly" (logged while the architecture is built, before the weights
    of ``model.json`` are loaded into it) is silenced when there are weights; an untrained spec says so.
    Imported lazily: it is this module's only coupling to how models are built and stored.
    """
    from skytext.align.models import ModelSpec, load_for_inference

    spec = ModelSpec.from_json(model_json)
    trained = bool(spec.weights or spec.pretrained)
    quiet, root = _DropRandomInit(), logging.getLogger()
    root.addFilter(quiet)
    try:
        out = load_for_inference(str(model_json), device=device)
    finally:
        root.removeFilter(quiet)
    if trained:
        log.info("loaded %s (weights %s)", model_json, spec.weights or spec.pretrained)
    else:
        log.warning("%s has no trained weights (an untrained base model): its scores mean nothing", model_json)
    return out


def read_index(index: str | Path) -> tuple[np.ndarray, pd.DataFrame]:
    """``(images.npy memory-mapped, images.parquet)`` of an index folder, checked to be row-aligned."""
    import pandas as pd

    index = Path(index)
    emb = np.load(index / "images.npy", mmap_mode="r")
    meta = pd.read_parquet(index / "images.parquet")
    if len(meta) != emb.shape[0]:
        raise ValueError(f"{index}: images.parquet has {len(meta)} rows but images.npy has {emb.shape[0]}")
    return emb, meta


def search_index(index: str | Path, texts: Sequence[str], k: int = 10, model_json=None, device: str = "cpu", *,
                 templates: Sequence[str] | None = None, background: Sequence[str] | None = None):
    """Top-``k`` index rows for each text: a list (one per text) of DataFrames with rank, obs_id,
    proposal_id, score, cosine, path.

    ``templates``: prompt templates to ensemble each text over (:func:`encode_queries`; ``None``: the text as
    typed). ``background``: phrases for the calibrated score (:class:`Calibration`; ``None``: the score is
    the cosine). The demo and HST indexes are a few thousand rows: the key scales are computed per call.
    """
    import pandas as pd

    emb, meta = read_index(index)
    model, tokenizer, _ = load_model(model_json or Path(index) / "model.json", device)
    q = encode_queries(model, tokenizer, texts, templates, device)
    if background is not None:
        cal = Calibration.from_embeddings(encode_queries(model, tokenizer, background, templates, device))
        scores, idx, cos = cal.search(q, emb, k, device=device)
    else:
        scores, idx = topk(q, emb, k, device=device)
        cos = scores
    out = []
    for s, c, i in zip(scores, cos, idx):
        rows = meta.iloc[i]
        out.append(pd.DataFrame({
            "rank": np.arange(1, len(i) + 1), "obs_id": rows["obs_id"].to_numpy(),
            "proposal_id": rows["proposal_id"].to_numpy() if "proposal_id" in rows else None,
            "score": s, "cosine": c, "path": rows["path"].to_numpy(),
        }))  # fmt: skip
    return out
