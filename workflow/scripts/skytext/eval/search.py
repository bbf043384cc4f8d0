"""Exact similarity search over embeddings in bounded memory.

Scores are inner products of query rows with key rows (cosine similarity when both are L2-normalised, as
the index files are). Nothing here ever holds the full ``n_queries x n_keys`` score matrix: queries are cut
into chunks of ``chunk_size`` rows and keys into chunks of ``key_chunk_size`` rows, each block of scores is
computed with one float32 matrix product on ``device`` and folded into a running per-query result.

Memory bound (float32 scores, ``cq``/``ck`` = query/key chunk sizes, ``d`` = embedding width)::

    peak ~ 4 * cq * ck * 2          (the score block plus one same-sized temporary: topk / comparisons)
         + 4 * (cq + ck) * d        (the two float32 input chunks)
         + 12 * nq * k              (the float32 scores and int64 indices returned)

(twice the score block with ``matmul_dtype="float64"``) plus the inputs themselves, which may be
memory-mapped (``np.load(path, mmap_mode="r")``) and are only read a chunk at a time. With 8,192 x 8,192 chunks
(the schema's ``images.eval.chunk_size``) that is about 0.6 GiB of working memory whatever ``n_keys`` is, so 1,000,000 x 1,000,000 at d=512 runs in well under 2 GiB beyond the (memory-mapped) inputs;
only time grows, as ``nq * nk * d``.

Ranks (:func:`ranks_of_targets`, :func:`ranks_of_any_target`) are counted the same way: the score of each
query's true key is computed first, then every key chunk adds its number of strictly higher scores.

Text queries (routing through training abstracts, templates, the "no good match" threshold):
:mod:`skytext.eval.query`; searching an index folder from Python or the command line: :mod:`skytext.search`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch

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
    name: str, arr: np.ndarray, start: int, stop: int, device: torch.device, normalize: bool, dtype=torch.float32,
    check: bool = True,
) -> torch.Tensor:
    """Rows ``start:stop`` of ``arr`` as a ``dtype`` tensor on ``device``, checked finite unless ``check`` is
    false (and normalised)."""
    rows = np.ascontiguousarray(arr[start:stop], dtype=np.float32)
    if rows.flags.writeable:
        t = torch.from_numpy(rows).to(device)
    else:  # a read-only memory map: torch warns that writing to the tensor is undefined; nothing here writes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(rows).to(device)
    if check and not bool(torch.isfinite(t.sum(dim=1)).all()):  # one cheap pass; a NaN or inf anywhere makes its row sum so
        finite = torch.isfinite(t).all(dim=1)
        if not bool(finite.all()):  # (else only a finite row summed past float32's range: accepted)
            row = start + int((~finite).nonzero()[0, 0])
            raise ValueError(f"{name} row {row} has a non-finite value")
    if normalize:
        t = t / t.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return t.to(dtype)


def _dtype(matmul_dtype: str) -> torch.dtype:
    if matmul_dtype not in PRECISIONS:
        raise ValueError(f"matmul_dtype must be one of {tuple(PRECISIONS)}, got {matmul_dtype!r}")
    return PRECISIONS[matmul_dtype]


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


def _per_key(name: str, values, nk: int) -> np.ndarray | None:
    """``values`` as ``[nk]`` finite float32 numbers (``None`` stays ``None``); one clear error otherwise."""
    if values is None:
        return None
    w = np.asarray(values, dtype=np.float32).ravel()
    if w.shape != (nk,) or not np.isfinite(w).all():
        raise ValueError(f"{name} must be {nk} finite numbers, got shape {np.shape(values)}")
    return w


# ----------------------------------------------------------------------------------------------- top-k
def topk(
    queries,
    keys,
    k: int,
    chunk_size: int,
    device: str,
    *,
    normalize: bool = False,
    key_chunk_size: int | None = None,
    matmul_dtype: str = "float32",
    key_weights=None,
    keys_checked: bool = False,
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
        matmul_dtype: ``"float32"`` (fast) or ``"float64"``: the block products in float64, rounded to float32
            scores. Matrix products are not bitwise reproducible across block shapes, so in float32 a key
            bit-identical to another may score one unit in the last place apart and their order can depend
            on the chunking; in float64 such copies tie exactly (in practice) at twice the cost.
        key_weights: optional ``[nk]`` factors: the score of key ``j`` becomes ``(q . k_j) * w_j`` (e.g. the
            per-image scale of a calibrated score, :class:`skytext.eval.query.Calibration`), applied block by block.
        keys_checked: the caller has checked every key finite once (a server answering many queries over the
            same keys, :class:`skytext.search.CheckedKeys`): the per-block finiteness pass over the keys, which
            costs as much as the search for a single query, is skipped. Queries are always checked.

    Returns:
        ``(scores, indices)``: float32 and int64 arrays ``[nq, min(k, nk)]``, each row ordered by descending
        score; equal scores are ordered by ascending key index, and when ties straddle the cut the lowest key
        indices are kept. Scores are computed in float32. Memory is bounded as in the module docstring.
    """
    q, kk = _check_pair(queries, keys)
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(int(k), kk.shape[0])
    dev, dt = torch.device(device), _dtype(matmul_dtype)
    kc = key_chunk_size or chunk_size
    w = _per_key("key_weights", key_weights, kk.shape[0])
    out_v = np.empty((q.shape[0], k), dtype=np.float32)
    out_i = np.empty((q.shape[0], k), dtype=np.int64)
    with torch.inference_mode():
        for q0, q1 in _spans(q.shape[0], chunk_size):
            qt = _block("queries", q, q0, q1, dev, normalize, dt)
            best_v = best_i = None
            for k0, k1 in _spans(kk.shape[0], kc):
                scores = (qt @ _block("keys", kk, k0, k1, dev, normalize, dt, check=not keys_checked).T).float()
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
    chunk_size: int,
    device: str,
    *,
    ties: str = "optimistic",
    normalize: bool = False,
    key_chunk_size: int | None = None,
    matmul_dtype: str = "float64",
) -> np.ndarray:
    """1-based rank of the best-scoring true key of each query.

    ``target_sets[i]`` lists the key indices that are right answers for query ``i`` (e.g. every image of a
    text's proposal). With ``m_i`` the best score among them, the rank is ``1 + #(other keys scoring > m_i)``.
    Keys scoring exactly ``m_i`` are resolved by ``ties``:

    * ``"optimistic"`` (default): they do not count -- the true key ranks first among equals;
    * ``"pessimistic"``: they all count;
    * ``"mean"``: half of them count (the mean position within the tied block), giving float ranks.

    True keys themselves are never counted against the query. Scores are computed as in :func:`topk`; the
    default ``matmul_dtype="float64"`` (products in float64, rounded to float32) makes bit-identical copies of a
    true key (e.g. the same image filed twice) tie with it whatever the chunking, at twice the cost of
    ``"float32"``. Returns int64 ``[nq]`` (float64 for ``"mean"``). Memory is bounded as for :func:`topk`
    (twice the score block in float64), plus one copy of the distinct true keys of a query chunk.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    q, kk = _check_pair(queries, keys)
    nq, nk = q.shape[0], kk.shape[0]
    offsets, flat = _target_sets(target_sets, nq, nk)
    dev, dt = torch.device(device), _dtype(matmul_dtype)
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
    chunk_size: int,
    device: str,
    *,
    ties: str = "optimistic",
    normalize: bool = False,
    key_chunk_size: int | None = None,
    matmul_dtype: str = "float64",
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
        ties=ties, normalize=normalize, key_chunk_size=key_chunk_size, matmul_dtype=matmul_dtype,
    )  # fmt: skip
