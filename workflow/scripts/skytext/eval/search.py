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

Command line::

    python -m skytext.eval.search "gravitational lens arcs" --k 10 --index results/demo/embed/<model>/test
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

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
    finite = torch.isfinite(t).all(dim=1)
    if not bool(finite.all()):
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


def _order(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder each row by descending score, equal scores by ascending index."""
    idx, perm = torch.sort(idx, dim=1)
    vals = vals.gather(1, perm)
    vals, perm = torch.sort(vals, dim=1, descending=True, stable=True)
    return vals, idx.gather(1, perm)


def _block_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` of each row of a score block, ties at the cut going to the lowest column index."""
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
    return _order(vals, idx)


def _merge(best_v, best_i, vals, idx, k):
    """Merge a running top-k with a later key chunk's top-k (all of whose indices are larger)."""
    if best_v is None:
        return vals, idx
    v = torch.cat([best_v, vals], dim=1)
    i = torch.cat([best_i, idx], dim=1)
    v, perm = torch.sort(v, dim=1, descending=True, stable=True)  # stable: earlier = lower index wins ties
    return v[:, :k], i.gather(1, perm[:, :k])


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
    kc = key_chunk_size or chunk_size
    out_v = np.empty((q.shape[0], k), dtype=np.float32)
    out_i = np.empty((q.shape[0], k), dtype=np.int64)
    with torch.inference_mode():
        for q0, q1 in _spans(q.shape[0], chunk_size):
            qt = _block("queries", q, q0, q1, dev, normalize, dt)
            best_v = best_i = None
            for k0, k1 in _spans(kk.shape[0], kc):
                scores = (qt @ _block("keys", kk, k0, k1, dev, normalize, dt).T).float()
                vals, idx = _block_topk(scores, k)
                del scores
                best_v, best_i = _merge(best_v, best_i, vals, idx + k0, k)
            out_v[q0:q1] = best_v.cpu().numpy()
            out_i[q0:q1] = best_i.cpu().numpy()
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
    kc = key_chunk_size or chunk_size
    greater = np.zeros(nq, dtype=np.int64)
    equal = np.zeros(nq, dtype=np.int64)
    with torch.inference_mode():
        for q0, q1 in _spans(nq, chunk_size):
            qt = _block("queries", q, q0, q1, dev, normalize, dt)
            cols_np = flat[offsets[q0] : offsets[q1]]
            rows = torch.from_numpy(np.repeat(np.arange(q1 - q0), np.diff(offsets[q0 : q1 + 1]))).to(dev)
            cols = torch.from_numpy(cols_np).to(dev)
            uniq, where = np.unique(cols_np, return_inverse=True)  # read each true key once
            try:
                true_keys = _block("keys", kk[uniq], 0, len(uniq), dev, normalize, dt)
            except ValueError:  # name the key by its real index
                bad = uniq[~np.isfinite(np.asarray(kk[uniq], dtype=np.float32)).all(axis=1)][0]
                raise ValueError(f"keys row {int(bad)} has a non-finite value") from None
            pair_scores = _pair_scores(qt, rows, true_keys, torch.from_numpy(where.ravel()).to(dev))
            best = torch.full((q1 - q0,), -torch.inf, dtype=torch.float32, device=dev)
            best.scatter_reduce_(0, rows, pair_scores, reduce="amax")
            best = best[:, None]
            n_gt = torch.zeros(q1 - q0, dtype=torch.int64, device=dev)
            n_eq = torch.zeros_like(n_gt)
            for k0, k1 in _spans(nk, kc):
                scores = (qt @ _block("keys", kk, k0, k1, dev, normalize, dt).T).float()
                here = (cols >= k0) & (cols < k1)
                scores[rows[here], cols[here] - k0] = -torch.inf  # a true key never outranks its query's best
                n_gt += torch.sum(scores > best, dim=1, dtype=torch.int32)  # int32 sums of bools are fast
                if ties != "optimistic":
                    n_eq += torch.sum(scores == best, dim=1, dtype=torch.int32)
                del scores
            greater[q0:q1] = n_gt.cpu().numpy()
            equal[q0:q1] = n_eq.cpu().numpy()
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


# ----------------------------------------------------------------------------------------------- CLI
def load_model(model_json: str | Path, device: str = "cpu"):
    """``(model, tokenizer, preprocess)`` for a ``model.json``: :func:`skytext.align.models.load_for_inference`.

    Imported lazily: it is this module's only coupling to how models are built and stored.
    """
    from skytext.align.models import load_for_inference

    return load_for_inference(str(model_json), device=device)


def encode_text(model, tokenizer, texts: Sequence[str], device: str = "cpu") -> np.ndarray:
    """L2-normalised float32 text embeddings ``[len(texts), d]``."""
    with torch.inference_mode():
        feats = model.encode_text(tokenizer(list(texts)).to(device)).float()
        feats = feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return feats.cpu().numpy()


def search_index(index: str | Path, texts: Sequence[str], k: int = 10, model_json=None, device: str = "cpu"):
    """Top-``k`` index rows for each text: a list (one per text) of DataFrames with rank, obs_id, score, path."""
    import pandas as pd

    index = Path(index)
    emb = np.load(index / "images.npy", mmap_mode="r")
    meta = pd.read_parquet(index / "images.parquet")
    if len(meta) != emb.shape[0]:
        raise ValueError(f"{index}: images.parquet has {len(meta)} rows but images.npy has {emb.shape[0]}")
    model, tokenizer, _ = load_model(model_json or index / "model.json", device)
    scores, idx = topk(encode_text(model, tokenizer, texts, device), emb, k, device=device)
    out = []
    for s, i in zip(scores, idx):
        rows = meta.iloc[i]
        out.append(pd.DataFrame({
            "rank": np.arange(1, len(i) + 1), "obs_id": rows["obs_id"].to_numpy(),
            "score": s, "path": rows["path"].to_numpy(),
        }))  # fmt: skip
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print the best-matching observations of an index for one or more text queries."""
    ap = argparse.ArgumentParser(prog="python -m skytext.eval.search", description=main.__doc__)
    ap.add_argument("query", nargs="+", help="text query (several may be given)")
    ap.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    ap.add_argument("--index", required=True, help="index folder: images.npy, images.parquet, model.json")
    ap.add_argument("--model-json", default=None, help="model description (default: <index>/model.json)")
    ap.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = ap.parse_args(argv)
    try:
        results = search_index(args.index, args.query, args.k, args.model_json, args.device)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for text, df in zip(args.query, results):
        print(f"# {text}")
        print("rank\tobs_id\tscore\tpath")
        for r in df.itertuples(index=False):
            print(f"{r.rank}\t{r.obs_id}\t{r.score:.4f}\t{r.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
