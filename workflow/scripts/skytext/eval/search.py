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

A server answering one query at a time over a large index (the web app) uses :class:`ScreenedKeys`: an 8-bit
FAISS screen of the keys picks candidates, the exact scan of those rows answers, and a bound on the screen's
error certifies that no other key could have made the top k (else more candidates, else the full scan): the
same answer at about a quarter of a single query's memory traffic.

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
    """``values`` as ``[nk]`` finite float32 numbers (``None`` stays ``None``; a float32 ``[nk]`` array is
    returned itself, so that :meth:`ScreenedKeys.weights_for` knows it again without comparing); one clear
    error otherwise."""
    if values is None:
        return None
    w = np.asarray(values, dtype=np.float32)
    w = w if w.ndim == 1 else w.ravel()
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

    ``keys`` may be :class:`HeldKeys` (checked once: searched as with ``keys_checked``), or among them a
    :class:`ScreenedKeys` (with an 8-bit copy of the weighted keys): on the CPU its certified two-stage search
    answers (:meth:`ScreenedKeys.topk`), with the weights it was built with (``key_weights`` must be those or
    ``None``).

    Returns:
        ``(scores, indices)``: float32 and int64 arrays ``[nq, min(k, nk)]``, each row ordered by descending
        score; equal scores are ordered by ascending key index, and when ties straddle the cut the lowest key
        indices are kept. Scores are computed in float32. Memory is bounded as in the module docstring.
    """
    if isinstance(keys, ScreenedKeys):
        w = keys.weights_for(key_weights)
        if torch.device(device).type == "cpu" and not normalize and matmul_dtype == "float32":
            return keys.topk(queries, k, chunk_size)
        key_weights = w  # another device or precision: the exact scan
    if isinstance(keys, HeldKeys):
        keys, keys_checked = keys.array, True
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


# ----------------------------------------------------------------------------------------------- screened top-k
_U32 = 2.0**-24  # unit roundoff of float32


class HeldKeys:
    """Keys a server holds for many searches, checked finite once: ``array`` (a float array or memory map)
    with its shape, length, rows and NumPy conversion. :func:`topk` searches held keys without its per-block
    finiteness pass over the keys (which costs as much as the search itself for one query)."""

    array: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_keys, d)``."""
        return self.array.shape

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def __getitem__(self, rows):
        return self.array[rows]

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype, copy=False)


class ScreenedKeys(HeldKeys):
    """Keys for many exact top-k searches of a few queries each (a server's index): checked finite once, with
    an 8-bit copy of the weighted keys, less their mean, in a FAISS index (``IndexScalarQuantizer``,
    ``QT_8bit_direct_signed``: integer codes -127..127 on a per-dimension step).

    :meth:`topk` answers in two stages. The query, on the same steps, is rounded to integers -127..127 too, and
    FAISS scans the codes with integer products for each query's ``candidates`` best (a quarter of the memory
    traffic of a float32 scan, which is what a single query's search costs); the engine's exact float32
    :func:`topk` over those rows gives the answer. The answer is certified: a bound on every error of the
    screen (each key's rounding to its codes, measured when the copy is made; the query's rounding, known;
    the sums; the exact stage's own float32 error) shows that every key left out scores below the k-th exact
    score among the candidates. A query the bound cannot certify (near-ties at the cut, keys far larger than
    the rest) is screened again with 8x the candidates while they are at most an eighth of the keys, then
    answered by the full exact scan. So the result is always the exact top-k; only keys whose scores differ
    by float32 rounding may come in another order than a full scan's (whose order among such keys also
    depends on its chunking). ``screened`` and ``fallbacks`` count the queries answered each way,
    ``first_screen`` those certified by the first screen.

    The index checks when it is built that FAISS sums integer codes and queries exactly, or within float32
    rounding (``ValueError`` otherwise). Memory: ``n * d`` bytes for the codes beyond ``keys`` (a memory map
    stays one: the exact stage reads only candidate rows).
    """

    def __init__(self, keys, key_weights=None, *, candidates: int = 256, chunk_size: int = 8192):
        import faiss

        kk = _as_matrix("keys", keys)
        if kk.shape[0] == 0:
            raise ValueError("keys are empty: nothing to search")
        n, d = kk.shape
        w = _per_key("key_weights", key_weights, n)
        self.array, self.weights, self.candidates = kk, w, max(1, int(candidates))

        def weighted(k0: int, k1: int) -> np.ndarray:
            x = np.asarray(kk[k0:k1], dtype=np.float64)
            bad = ~np.isfinite(x).all(axis=1)
            if bad.any():
                raise ValueError(f"keys row {k0 + int(np.flatnonzero(bad)[0])} has a non-finite value")
            return x if w is None else x * w[k0:k1, None]

        total, norm = np.zeros(d), 0.0  # sum of x_j w_j and max |w_j| |x_j|_2
        for k0, k1 in _spans(n, chunk_size):
            x = weighted(k0, k1)
            total += x.sum(axis=0)
            norm = max(norm, float(np.linalg.norm(x, axis=1).max(initial=0.0)))
        # the codes hold x_j w_j - centre: a query adds q . centre to every key alike, so embeddings that share
        # a large common direction (most do) keep their fine differences in the codes' steps
        self.centre, self.key_norm = total / n, norm
        peak = np.zeros(d)  # max |x_jd w_j - centre_d| per dimension
        for k0, k1 in _spans(n, chunk_size):
            peak = np.maximum(peak, np.abs(weighted(k0, k1) - self.centre).max(axis=0))
        self.step = np.where(peak > 0, peak, 1.0) / 127.0  # code c stands for c * step + centre, per dimension
        self.index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit_direct_signed,
                                                faiss.METRIC_INNER_PRODUCT)
        self.code_error = self.code_norm = 0.0  # max over keys of |x_j w_j - centre - c_j * step|_2, of |c_j|_2
        for k0, k1 in _spans(n, chunk_size):
            x = weighted(k0, k1) - self.centre
            self.index.add(np.clip(np.rint(x / self.step), -127, 127).astype(np.float32))
            c = self.index.reconstruct_n(k0, k1 - k0).astype(np.float64)  # the codes as FAISS decodes them
            self.code_error = max(self.code_error, float(np.linalg.norm(x - c * self.step, axis=1).max(initial=0.0)))
            self.code_norm = max(self.code_norm, float(np.linalg.norm(c, axis=1).max(initial=0.0)))
        self.screened = self.first_screen = self.fallbacks = 0
        self._check_sums(np.random.default_rng(0))

    def _check_sums(self, rng) -> None:
        """FAISS's scores of random integer queries against the codes: the integer products summed exactly,
        or within the float32 accumulation bound the certificate allows."""
        n, d = self.array.shape
        q = rng.integers(-127, 128, (4, d)).astype(np.float32)
        got, idx = self.index.search(q, min(n, 64))
        for qi, gi, ii in zip(q.astype(np.int64), got, idx):
            c = self.index.reconstruct_batch(ii).astype(np.int64)
            if np.any(np.abs(gi - c @ qi) > 2 * d * _U32 * (np.abs(c) @ np.abs(qi))):
                raise ValueError("FAISS's 8-bit scan does not sum as assumed: the screened search is not exact")

    def weights_for(self, key_weights) -> np.ndarray | None:
        """The weights searched: this index's own; ``key_weights`` must be ``None`` or equal to them."""
        if key_weights is not None and key_weights is not self.weights:
            w = _per_key("key_weights", key_weights, len(self))
            if self.weights is None or not np.array_equal(w, self.weights):
                raise ValueError("key_weights differ from the weights these screened keys were built with")
        return self.weights

    def _exact(self, q: np.ndarray, k: int, chunk_size: int, rows: np.ndarray | None = None):
        """The engine's exact top-k of ``q`` over ``rows`` (all keys: ``None``), as key indices."""
        if rows is None:
            return topk(q, self.array, k, chunk_size, "cpu", key_weights=self.weights, keys_checked=True)
        w = None if self.weights is None else self.weights[rows]
        v, i = topk(q, np.asarray(self.array[rows], dtype=np.float32), k, chunk_size, "cpu", key_weights=w,
                    keys_checked=True)
        return v, rows[i]

    def query_codes(self, query: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """``(codes [1, d] float32, alpha, offset, err)``: a query ``[d]`` as integers -127..127 on the keys'
        steps, their unit, the score every key shares (``query . centre``) and the certificate's bound: for
        every key ``j``, ``|query . x_j w_j - (offset + alpha * codes . c_j)| <= err`` (the keys' rounding,
        measured; the query's, known; float32 sums; plus the exact stage's own float32 error, counted as scores
        and again as a full scan would compute them). ``alpha`` is 0 when the codes cannot tell keys apart."""
        q64 = np.asarray(query, dtype=np.float64).ravel()
        d = q64.size
        gamma = 2 * d * _U32  # float32 accumulation over d terms (any order, FMA or not), with a margin
        qn = float(np.linalg.norm(q64))
        offset = float(q64 @ self.centre)
        t = q64 * self.step  # the query against the codes: q . (c_j * step) = t . c_j
        alpha = float(np.abs(t).max(initial=0.0)) / 127.0
        if alpha == 0.0:
            return np.zeros((1, d), np.float32), 0.0, offset, 0.0
        qc = np.clip(np.rint(t / alpha), -127, 127)
        err = (float(np.linalg.norm(t - alpha * qc)) * self.code_norm + qn * self.code_error
               + gamma * alpha * float(np.linalg.norm(qc)) * self.code_norm
               + 4 * (gamma + 2 * _U32) * qn * (self.key_norm + float(np.linalg.norm(self.centre))))
        return qc.astype(np.float32)[None, :], alpha, offset, err

    def topk(self, queries, k: int, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)`` as :func:`topk` returns them for these keys and weights (float32 scores,
        rows by descending score, ties by ascending index), certified exact as the class says; ``chunk_size``:
        key rows per block of the exact scans (memory only)."""
        q = _as_matrix("queries", queries).astype(np.float32, copy=False)
        n, d = self.array.shape
        if q.shape[1] != d:
            raise ValueError(f"queries have width {q.shape[1]} but keys have width {d}")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        bad = ~np.isfinite(q).all(axis=1)
        if bad.any():
            raise ValueError(f"queries row {int(np.flatnonzero(bad)[0])} has a non-finite value")
        k = min(int(k), n)
        out_v = np.empty((q.shape[0], k), dtype=np.float32)
        out_i = np.empty((q.shape[0], k), dtype=np.int64)
        for j in range(q.shape[0]):
            row = q[j : j + 1]
            cand = max(self.candidates, 2 * k)
            qc, alpha, offset, err = self.query_codes(row[0])
            if alpha == 0.0:
                cand = n  # a zero query (or keys all alike): the full scan
            first = True
            while cand <= n // 8:  # (beyond an eighth of the keys, the full scan costs about as much)
                approx, top = self.index.search(qc, cand)  # best first
                sv, si = self._exact(row, k, chunk_size, np.sort(top[0]))
                # a key left out has approx <= the last candidate's, so its score is below this bound
                if offset + alpha * float(approx[0, -1]) + err < float(sv[0, -1]):
                    self.screened += 1
                    self.first_screen += first
                    out_v[j], out_i[j] = sv[0], si[0]
                    break
                cand, first = cand * 8, False
            else:
                self.fallbacks += 1
                sv, si = self._exact(row, k, chunk_size)
                out_v[j], out_i[j] = sv[0], si[0]
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
