"""Exact similarity search over embeddings in bounded memory.

Scores are inner products of query rows with key rows (cosine similarity when both are L2-normalised, as
the index files are). Nothing here ever holds the full ``n_queries x n_keys`` score matrix: queries are cut
into chunks of ``chunk_size`` rows and keys into chunks of ``key_chunk_size`` rows, each block of scores is
computed with one float32 matrix product on ``device`` and folded into a running per-query result.

Memory bound (float32 scores, ``cq``/``ck`` = query/key chunk sizes, ``d`` = embedding width)::

    peak ~ 4 * cq * ck * 2          (the score block plus one same-sized temporary: topk / comparisons)
         + 4 * (cq + ck) * d        (the two float32 input chunks)
         + 12 * nq * k              (the float32 scores and int64 indices returned)

(twice the score block with ``precision="float64"``) plus the inputs themselves, which may be
memory-mapped (``np.load(path, mmap_mode="r")``) and are only read a chunk at a time. With the default 8,192 x 8,192 chunks that is about 0.6 GiB of working memory whatever
``n_keys`` is, so 1,000,000 x 1,000,000 at d=512 runs in well under 2 GiB beyond the (memory-mapped) inputs;
only time grows, as ``nq * nk * d``.

Ranks (:func:`ranks_of_targets`, :func:`ranks_of_any_target`) are counted the same way: the score of each
query's true key is computed first, then every key chunk adds its number of strictly higher scores.

Text queries (:func:`search_index`, the command line) are ensembled over prompt templates
(``resources/vocab/query_templates.txt``, as CLIP's "a photo of a {}."), ranked by a calibrated score measured
against background phrases (:class:`Calibration`), and declared "no good match" below a threshold chosen on
the val split (:func:`choose_threshold`, the ``search_eval`` rule). Command line::

    python -m skytext.search "globular cluster" --k 10 --index results/images/demo/embed/<model>/test [--html hits.html]
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from skytext.core.vocab import read_lines

if TYPE_CHECKING:  # pandas is imported where tables are read
    import pandas as pd

DEFAULT_CHUNK = 8192
TIES = ("optimistic", "mean", "pessimistic")
PRECISIONS = {"float32": torch.float32, "float64": torch.float64}


# ----------------------------------------------------------------------------------------------- helpers
def _as_matrix(name: str, x) -> np.ndarray:
    """``x`` as a 2-D float numpy array (memory maps stay memory maps); one clear error otherwise."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n, d], got shape {arr.shape}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    return arr


def _check_pair(queries, keys) -> tuple[np.ndarray, np.ndarray]:
    q = _as_matrix("queries", queries)
    k = _as_matrix("keys", keys)
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"queries have width {q.shape[1]} but keys have width {k.shape[1]}")
    if k.shape[0] == 0:
        raise ValueError("keys are empty: nothing to search")
    return q, k


def _block(
    name: str, arr: np.ndarray, start: int, stop: int, device: torch.device, normalize: bool, dtype=torch.float32
) -> torch.Tensor:
    """Rows ``start:stop`` of ``arr`` as a ``dtype`` tensor on ``device``, checked finite (and normalised)."""
    t = torch.from_numpy(np.ascontiguousarray(arr[start:stop], dtype=np.float32)).to(device)
    if not bool(torch.isfinite(t.sum(dim=1)).all()):  # one cheap pass; a NaN or inf anywhere makes its row sum so
        finite = torch.isfinite(t).all(dim=1)
        if not bool(finite.all()):  # (else only a finite row summed past float32's range: accepted)
            row = start + int((~finite).nonzero()[0, 0])
            raise ValueError(f"{name} row {row} has a non-finite value")
    if normalize:
        t = t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return t.to(dtype)


def _dtype(precision: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


def _spans(n: int, size: int) -> Iterator[tuple[int, int]]:
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _order(vals: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder each row by descending score, equal scores by ascending index.

    In NumPy on the host: these ``[rows, k]`` arrays are small, and torch's sort of many short rows costs
    more in thread start-up than the sort (measured: 5x NumPy's on 2 threads).
    """
    perm = np.lexsort((idx, -vals), axis=1)
    return np.take_along_axis(vals, perm, 1), np.take_along_axis(idx, perm, 1)


def _block_topk(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of each row of a score block, ties at the cut going to the lowest column index (host arrays)."""
    k = min(k, scores.shape[1])
    extra = int(k < scores.shape[1])  # one more than asked tells whether ties straddle the cut
    vals, idx = torch.topk(scores, k + extra, dim=1, largest=True, sorted=True)
    tied = vals[:, k] == vals[:, k - 1] if extra else torch.zeros(len(vals), dtype=torch.bool, device=vals.device)
    vals, idx = vals[:, :k].contiguous(), idx[:, :k].contiguous()
    cut = vals[:, -1:]
    if bool(tied.any()):  # topk chose among the tied arbitrarily: keep the lowest indices instead
        rows = tied.nonzero().squeeze(1)
        sub, sub_cut = scores[rows], cut[rows]
        above = sub > sub_cut
        need = k - above.sum(dim=1, keepdim=True)
        at_cut = sub == sub_cut
        keep = above | (at_cut & (torch.cumsum(at_cut, dim=1) <= need))  # exactly k per row
        cols = keep.nonzero()[:, 1].reshape(len(rows), k)
        vals[rows] = sub.gather(1, cols)
        idx[rows] = cols
    return _order(vals.cpu().numpy(), idx.cpu().numpy())


def _merge(best_v, best_i, vals, idx, k):
    """Merge a running top-k with a later key chunk's top-k (all of whose indices are larger)."""
    if best_v is None:
        return vals, idx
    v = np.concatenate([best_v, vals], axis=1)
    i = np.concatenate([best_i, idx], axis=1)
    perm = np.argsort(-v, axis=1, kind="stable")[:, :k]  # stable: earlier = lower index wins ties
    return np.take_along_axis(v, perm, 1), np.take_along_axis(i, perm, 1)


def _weights(key_weights, nk: int) -> np.ndarray | None:
    if key_weights is None:
        return None
    w = np.asarray(key_weights, dtype=np.float32).ravel()
    if w.shape != (nk,) or not np.isfinite(w).all():
        raise ValueError(f"key_weights must be {nk} finite numbers, got shape {np.shape(key_weights)}")
    return w


# ----------------------------------------------------------------------------------------------- top-k
def topk(
    queries,
    keys,
    k: int,
    chunk_size: int = DEFAULT_CHUNK,
    device: str = "cpu",
    *,
    normalize: bool = False,
    key_chunk_size: int | None = None,
    precision: str = "float32",
    key_weights=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best-scoring keys of every query, by inner product, exact.

    Args:
        queries: float16/float32 array ``[nq, d]`` (a memory map is fine).
        keys: float16/float32 array ``[nk, d]`` (a memory map is fine).
        k: number of neighbours; values above ``nk`` are cut to ``nk``.
        chunk_size: query rows per block (and key rows per block unless ``key_chunk_size`` is given).
        device: torch device for the matrix products (``"cpu"``, ``"cuda"``, ...).
        normalize: L2-normalise rows first (otherwise inputs are taken to be normalised already).
        key_chunk_size: key rows per block.
        precision: ``"float32"`` (fast) or ``"float64"``: the block products in float64, rounded to float32
            scores. Matrix products are not bitwise reproducible across block shapes, so in float32 a key
            bit-identical to another may score one unit in the last place apart and their order can depend
            on the chunking; in float64 such copies tie exactly (in practice) at twice the cost.
        key_weights: optional ``[nk]`` factors: the score of key ``j`` becomes ``(q . k_j) * w_j`` (e.g. the
            per-image scale of a calibrated score, :class:`Calibration`), applied block by block.

    Returns:
        ``(scores, indices)``: float32 and int64 arrays ``[nq, min(k, nk)]``, each row ordered by descending
        score; equal scores are ordered by ascending key index, and when ties straddle the cut the lowest key
        indices are kept. Scores are computed in float32. Memory is bounded as in the module docstring.
    """
    q, kk = _check_pair(queries, keys)
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(int(k), kk.shape[0])
    dev, dt = torch.device(device), _dtype(precision)
    kc, w = key_chunk_size or chunk_size, _weights(key_weights, kk.shape[0])
    out_v = np.empty((q.shape[0], k), dtype=np.float32)
    out_i = np.empty((q.shape[0], k), dtype=np.int64)
    with torch.inference_mode():
        for q0, q1 in _spans(q.shape[0], chunk_size):
            qt = _block("queries", q, q0, q1, dev, normalize, dt)
            best_v = best_i = None
            for k0, k1 in _spans(kk.shape[0], kc):
                scores = (qt @ _block("keys", kk, k0, k1, dev, normalize, dt).T).float()
                if w is not None:
                    scores *= torch.from_numpy(w[k0:k1]).to(dev)
                vals, idx = _block_topk(scores, k)
                del scores
                best_v, best_i = _merge(best_v, best_i, vals, idx + k0, k)
            out_v[q0:q1], out_i[q0:q1] = best_v, best_i
    return out_v, out_i


# ----------------------------------------------------------------------------------------------- ranks
def _target_sets(target_sets, nq: int, nk: int) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets [nq+1], flat key indices)`` of each query's true keys, checked."""
    if len(target_sets) != nq:
        raise ValueError(f"got {len(target_sets)} target sets for {nq} queries")
    arrays = [np.atleast_1d(np.asarray(t)).ravel() for t in target_sets]
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    if nq and lengths.min() == 0:
        raise ValueError(f"query {int(np.argmin(lengths))} has no true key")
    flat = np.concatenate(arrays) if arrays else np.empty(0)
    if flat.size and flat.dtype.kind not in "iu":
        if not np.all(np.equal(np.mod(flat, 1), 0)):
            raise ValueError("target indices must be integers")
    flat = flat.astype(np.int64)
    bad = (flat < 0) | (flat >= nk)
    if bad.any():
        pos = int(np.argmax(bad))
        query = int(np.searchsorted(np.cumsum(lengths), pos, side="right"))
        raise ValueError(f"query {query} has true key {int(flat[pos])} outside 0..{nk - 1}")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return offsets, flat


def _pair_scores(a: torch.Tensor, rows: torch.Tensor, b: torch.Tensor, cols: torch.Tensor, block: int = 256):
    """Inner products ``a[rows[p]] . b[cols[p]]`` for every pair ``p``, as float32.

    Computed as small matrix products (like the score blocks) a block of pairs at a time, so no copy of
    ``a`` or ``b`` per pair is ever made.
    """
    out = torch.empty(rows.shape[0], dtype=torch.float32, device=a.device)
    for s in range(0, rows.shape[0], block):
        out[s : s + block] = (a[rows[s : s + block]] @ b[cols[s : s + block]].T).diagonal().float()
    return out


def _true_best(qt: torch.Tensor, kk: np.ndarray, cols_np: np.ndarray, rows: torch.Tensor, normalize: bool, dt):
    """``[n_rows, 1]``: the best score of each query of a chunk among its true keys (``rows``/``cols_np`` pairs)."""
    dev = qt.device
    uniq, where = np.unique(cols_np, return_inverse=True)  # read each true key once
    try:
        true_keys = _block("keys", kk[uniq], 0, len(uniq), dev, normalize, dt)
    except ValueError:  # name the key by its real index
        bad = uniq[~np.isfinite(np.asarray(kk[uniq], dtype=np.float32)).all(axis=1)][0]
        raise ValueError(f"keys row {int(bad)} has a non-finite value") from None
    pair_scores = _pair_scores(qt, rows, true_keys, torch.from_numpy(where.ravel()).to(dev))
    best = torch.full((qt.shape[0],), -torch.inf, dtype=torch.float32, device=dev)
    best.scatter_reduce_(0, rows, pair_scores, reduce="amax")
    return best[:, None]


def _count_above(qt, kk, best, rows, cols, kc: int, normalize: bool, dt, count_equal: bool):
    """``(#keys scoring > best, #keys scoring == best)`` per query of a chunk, true keys left out."""
    n_gt = torch.zeros(qt.shape[0], dtype=torch.int64, device=qt.device)
    n_eq = torch.zeros_like(n_gt)
    for k0, k1 in _spans(kk.shape[0], kc):
        scores = (qt @ _block("keys", kk, k0, k1, qt.device, normalize, dt).T).float()
        here = (cols >= k0) & (cols < k1)
        scores[rows[here], cols[here] - k0] = -torch.inf  # a true key never outranks its query's best
        n_gt += torch.sum(scores > best, dim=1, dtype=torch.int32)  # int32 sums of bools are fast
        if count_equal:
            n_eq += torch.sum(scores == best, dim=1, dtype=torch.int32)
        del scores
    return n_gt.cpu().numpy(), n_eq.cpu().numpy()


def ranks_of_any_target(
    queries,
    keys,
    target_sets: Sequence,
    chunk_size: int = DEFAULT_CHUNK,
    device: str = "cpu",
    *,
    ties: str = "optimistic",
    normalize: bool = False,
    key_chunk_size: int | None = None,
    precision: str = "float64",
) -> np.ndarray:
    """1-based rank of the best-scoring true key of each query.

    ``target_sets[i]`` lists the key indices that are right answers for query ``i`` (e.g. every image of a
    text's proposal). With ``m_i`` the best score among them, the rank is ``1 + #(other keys scoring > m_i)``.
    Keys scoring exactly ``m_i`` are resolved by ``ties``:

    * ``"optimistic"`` (default): they do not count -- the true key ranks first among equals;
    * ``"pessimistic"``: they all count;
    * ``"mean"``: half of them count (the mean position within the tied block), giving float ranks.

    True keys themselves are never counted against the query. Scores are computed as in :func:`topk`; the
    default ``precision="float64"`` (products in float64, rounded to float32) makes bit-identical copies of a
    true key (e.g. the same image filed twice) tie with it whatever the chunking, at twice the cost of
    ``"float32"``. Returns int64 ``[nq]`` (float64 for ``"mean"``). Memory is bounded as for :func:`topk`
    (twice the score block in float64), plus one copy of the distinct true keys of a query chunk.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    q, kk = _check_pair(queries, keys)
    nq, nk = q.shape[0], kk.shape[0]
    offsets, flat = _target_sets(target_sets, nq, nk)
    dev, dt = torch.device(device), _dtype(precision)
    greater = np.zeros(nq, dtype=np.int64)
    equal = np.zeros(nq, dtype=np.int64)
    with torch.inference_mode():
        for q0, q1 in _spans(nq, chunk_size):
            qt = _block("queries", q, q0, q1, dev, normalize, dt)
            cols_np = flat[offsets[q0] : offsets[q1]]
            rows = torch.from_numpy(np.repeat(np.arange(q1 - q0), np.diff(offsets[q0 : q1 + 1]))).to(dev)
            best = _true_best(qt, kk, cols_np, rows, normalize, dt)
            greater[q0:q1], equal[q0:q1] = _count_above(qt, kk, best, rows, torch.from_numpy(cols_np).to(dev),
                                                        key_chunk_size or chunk_size, normalize, dt, ties != "optimistic")
    if ties == "mean":
        return 1.0 + greater + equal / 2.0
    if ties == "pessimistic":
        return 1 + greater + equal
    return 1 + greater


def ranks_of_targets(
    queries,
    keys,
    targets,
    chunk_size: int = DEFAULT_CHUNK,
    device: str = "cpu",
    *,
    ties: str = "optimistic",
    normalize: bool = False,
    key_chunk_size: int | None = None,
    precision: str = "float64",
) -> np.ndarray:
    """1-based rank of key ``targets[i]`` among all keys for query ``i``: ``1 + #(keys scoring higher)``.

    Ties are optimistic by default (other keys with exactly the target's score do not count); see
    :func:`ranks_of_any_target` for ``ties``. Returns int64 ``[nq]`` (float64 for ``ties="mean"``).
    """
    t = np.asarray(targets)
    if t.ndim != 1:
        raise ValueError(f"targets must be a 1-D array of key indices, got shape {t.shape}")
    return ranks_of_any_target(
        queries, keys, t.reshape(-1, 1), chunk_size, device,
        ties=ties, normalize=normalize, key_chunk_size=key_chunk_size, precision=precision,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------- text queries
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


# ----------------------------------------------------------------------------------------------- CLI
def find_results_root(index: str | Path) -> Path | None:
    """The results folder of an index (``<root>/embed/<model>/<split>``): the nearest parent holding
    ``dataset/proposals.parquet``, or ``None``."""
    for parent in list(Path(index).resolve().parents)[:4]:
        if (parent / "dataset" / "proposals.parquet").exists():
            return parent
    return None


def annotate(df, root: Path | None):
    """Add ``title`` (proposal title) and, on the demo, ``class`` (true class) from ``<root>/dataset``."""
    import pandas as pd

    if root is None:
        return df
    props = pd.read_parquet(root / "dataset" / "proposals.parquet")
    df = df.assign(title=df["proposal_id"].astype(str).map(dict(zip(props["proposal_id"].astype(str), props["title"]))))
    obs = pd.read_parquet(root / "dataset" / "observations.parquet")
    if "gt_class" in obs and obs["gt_class"].notna().any():
        df = df.assign(**{"class": df["obs_id"].map(dict(zip(obs["obs_id"], obs["gt_class"])))})
    return df


def read_threshold(args, root: Path | None, index: Path) -> float | None:
    """``--threshold``, else the ``threshold`` of ``--calibration`` or of ``<root>/eval/search/<model>.json``."""
    if args.threshold is not None:
        return args.threshold
    path = Path(args.calibration) if args.calibration else None
    if path is None and root is not None:
        path = root / "eval" / "search" / f"{index.resolve().parent.name}.json"
    if path is None or not path.exists():
        if args.calibration:
            raise OSError(f"calibration file {path} not found")
        return None
    return float(json.loads(path.read_text())["threshold"])


def verdict(best: float, threshold: float | None, calibrated: bool) -> str:
    """One comment line on whether a query found anything."""
    if not calibrated:
        return "raw cosine similarity (--raw): no calibrated score, no threshold"
    if threshold is None:
        return f"best score {best:.2f}; no threshold known (pass --threshold or --calibration, or run search_eval)"
    if best >= threshold:
        return f"match: best score {best:.2f} >= threshold {threshold:.2f}"
    return f"no good match: best score {best:.2f} < threshold {threshold:.2f}"


def _resolve(path: str, index: Path) -> Path:
    """An image path of ``images.parquet`` (relative to the workflow folder) as found from here."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    for parent in index.resolve().parents:
        if (parent / p).exists():
            return parent / p
    return p


def _thumbnail(path: Path, size: int = 128) -> str:
    """A ``data:`` URI of a PNG thumbnail of ``path`` ("" when it cannot be read)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except OSError:
        return ""
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def write_html(path: str | Path, results: Sequence[tuple[str, str, object]], index: Path) -> None:
    """One self-contained page: per query its verdict and a table of hits with inline thumbnails."""
    cols = [c for c in ("rank", "obs_id", "title", "class", "score", "cosine") if c in results[0][2]] if results else []
    parts = ["<!doctype html><meta charset='utf-8'><title>skytext search</title>",
             "<style>body{font-family:sans-serif}td,th{padding:3px 8px;text-align:left}img{display:block}</style>"]
    for query, note, df in results:
        parts.append(f"<h2>{html.escape(query)}</h2><p>{html.escape(note)}</p><table><tr><th>image</th>"
                     + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        for r in df.to_dict("records"):
            src = _thumbnail(_resolve(r["path"], index))
            img = f"<img src='{src}' width='128' alt='{html.escape(str(r['obs_id']))}'>" if src else "(image missing)"
            cells = "".join(f"<td>{html.escape(f'{r[c]:.3f}' if isinstance(r[c], float) else str(r[c]))}</td>" for c in cols)
            parts.append(f"<tr><td>{img}</td>{cells}</tr>")
        parts.append("</table>")
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m skytext.search", description=main.__doc__)
    ap.add_argument("query", nargs="+", help="text query (several may be given)")
    ap.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    ap.add_argument("--index", required=True, help="index folder: images.npy, images.parquet, model.json")
    ap.add_argument("--model-json", default=None, help="model description (default: <index>/model.json)")
    ap.add_argument("--device", default="cpu", help="torch device (default cpu)")
    ap.add_argument("--templates", default=str(TEMPLATES_FILE), help="prompt templates, one a line with {}")
    ap.add_argument("--background", default=str(BACKGROUND_FILE), help="background phrases of the calibrated score")
    ap.add_argument("--raw", action="store_true", help="rank by the raw cosine of the query as typed")
    ap.add_argument("--threshold", type=float, default=None, help="calibrated score below which nothing matches")
    ap.add_argument("--calibration", default=None, help="search_eval JSON whose threshold to use")
    ap.add_argument("--html", default=None, help="also write a page with thumbnails to this file")
    return ap


def _print(query: str, note: str, df) -> None:
    cols = [c for c in ("rank", "obs_id", "score", "cosine", "title", "class", "path") if c in df]
    print(f"# {query}\n# {note}")
    print("\t".join(cols))
    for r in df[cols].itertuples(index=False):
        print("\t".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the best-matching observations of an index for one or more text queries.

    Queries are ensembled over prompt templates and scored by a calibrated score against background
    phrases (see :class:`Calibration`); below the threshold chosen on the val split (the search_eval rule),
    a query is reported as having no good match.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    index = Path(args.index)
    try:
        templates = None if args.raw else read_templates(args.templates)
        background = None if args.raw else read_lines(args.background)
        results = search_index(index, args.query, args.k, args.model_json, args.device,
                               templates=templates, background=background)
        root = find_results_root(index)
        threshold = read_threshold(args, root, index)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = []
    for text, df in zip(args.query, results):
        df = annotate(df, root)
        shown.append((text, verdict(float(df["score"].iloc[0]), threshold, not args.raw), df))
        _print(*shown[-1])
    if args.html:
        write_html(args.html, shown, index)
        print(f"# wrote {args.html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
