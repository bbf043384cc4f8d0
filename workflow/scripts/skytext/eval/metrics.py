"""Retrieval metrics from ranks, with bootstrap confidence intervals.

Every metric here is a function of the 1-based rank of each query's true partner among ``n_candidates``
(see :mod:`skytext.eval.search`). Top-k % follows PAPERCLIP: a query counts as a hit at k % when its rank is at
most ``ceil(k / 100 * n_candidates)`` (computed in integers, so 10 % of 429 candidates is 43).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

K_PERCENT = np.arange(1, 101)
_BOOT_BLOCK_ELEMENTS = 4_000_000  # resampled ranks held at once while bootstrapping


def cutoff(n_candidates: int, k_percent) -> np.ndarray:
    """The rank cut-off of top-k %: ``ceil(k * n_candidates / 100)``, exact in integers, at least 1."""
    k = np.asarray(k_percent)
    if np.any(k <= 0) or np.any(k > 100):
        raise ValueError(f"k_percent must lie in (0, 100], got {k_percent}")
    if np.all(np.equal(np.mod(k, 1), 0)):
        m = (k.astype(np.int64) * int(n_candidates) + 99) // 100
    else:
        m = np.ceil(k * n_candidates / 100.0).astype(np.int64)
    return np.maximum(m, 1)


def _check_ranks(ranks, n_candidates: int) -> np.ndarray:
    r = np.asarray(ranks, dtype=np.float64).ravel()
    if int(n_candidates) < 1:
        raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
    if r.size == 0:
        raise ValueError("no ranks: nothing to summarise")
    bad = ~np.isfinite(r) | (r < 1) | (r > n_candidates)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"rank {r[i]} of query {i} is outside 1..{n_candidates}")
    return r


def topk_accuracy(ranks, n_candidates: int, k_percent=K_PERCENT) -> np.ndarray:
    """Fraction of queries whose rank is <= ``cutoff(n_candidates, k)`` for each ``k`` in ``k_percent``."""
    r = _check_ranks(ranks, n_candidates)
    m = cutoff(n_candidates, k_percent)
    return (r[:, None] <= np.atleast_1d(m)[None, :]).mean(axis=0).reshape(np.shape(m))


def random_baseline(n_candidates: int, k_percent, n_true: int = 1):
    """Expected top-k % accuracy when candidates are ranked at random (analytic).

    With one true candidate its rank is uniform on ``1..n``, so the accuracy is ``m / n`` with
    ``m = cutoff(n, k)``. With ``n_true`` true candidates (hit when any of them is in the top ``m``) it is
    ``1 - C(n - n_true, m) / C(n, m)``. Returns a float for a scalar ``k_percent``, else an array.
    """
    n, t = int(n_candidates), int(n_true)
    if n < 1 or not 1 <= t <= n:
        raise ValueError(f"need n_candidates >= 1 and 1 <= n_true <= n_candidates, got {n}, {t}")
    m = cutoff(n, k_percent)
    # P(no true candidate in the top m) = prod_{i < t} (n - m - i) / (n - i)
    i = np.arange(t)
    miss = np.prod(np.clip((n - np.atleast_1d(m)[:, None] - i) / (n - i), 0.0, None), axis=1)
    out = (1.0 - miss).reshape(np.shape(m))
    return float(out) if out.ndim == 0 else out


def _bootstrap(r: np.ndarray, stats, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n_stats]``: ``stats`` (a function of a ``[b, n]`` block of resampled ranks) per resample."""
    rng = np.random.default_rng(seed)
    n = r.size
    block = max(1, _BOOT_BLOCK_ELEMENTS // n)
    parts = []
    for start in range(0, n_boot, block):
        b = min(block, n_boot - start)
        parts.append(stats(r[rng.integers(0, n, size=(b, n))]))
    return np.concatenate(parts, axis=0)


def _interval(samples: np.ndarray, ci: float) -> list[list[float]]:
    lo, hi = np.quantile(samples, [(1 - ci) / 2, 1 - (1 - ci) / 2], axis=0)
    return [[float(a), float(b)] for a, b in zip(lo, hi)]


def retrieval_summary(
    ranks,
    n_candidates: int,
    recall_at: Sequence[int] = (1, 5, 10),
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict:
    """Summary of a retrieval run, JSON-ready.

    Args:
        ranks: 1-based rank of each query's true partner (ints, or floats from ``ties="mean"``).
        n_candidates: number of candidates each query was ranked against.
        recall_at: absolute cut-offs for recall@k (fraction of queries with rank <= k).
        n_boot: bootstrap resamples of the queries (0 disables intervals: they become ``None``).
        seed: seed of the resampling.
        ci: coverage of the percentile intervals.

    Returns:
        ``n_queries``, ``n_candidates``; ``topk_percent`` = ``{"k_percent": [1..100], "accuracy": [...]}``
        where a query counts at k % when its rank <= ``ceil(k/100 * n_candidates)``; ``top10pct`` and
        ``top10pct_ci``; ``recall_at`` / ``recall_at_ci`` keyed by ``str(k)``; ``median_rank``, ``mean_rank``,
        ``mrr`` (mean reciprocal rank), each with ``*_ci``; and ``n_boot``, ``seed``, ``ci``.
        Intervals are ``[lo, hi]`` percentile bootstrap intervals over queries.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    r = _check_ranks(ranks, n_candidates)
    ks = [int(k) for k in recall_at]
    if any(k < 1 for k in ks):
        raise ValueError(f"recall_at cut-offs must be >= 1, got {list(recall_at)}")
    cut10 = int(cutoff(n_candidates, 10))
    cuts = np.array([cut10, *ks], dtype=np.float64)

    def stats(x: np.ndarray) -> np.ndarray:  # x: [..., n] ranks -> [..., 3 + 1 + len(ks)]
        hits = (x[..., None] <= cuts).mean(axis=-2)
        return np.concatenate(
            [np.stack([np.median(x, -1), x.mean(-1), (1.0 / x).mean(-1)], -1), hits], axis=-1
        )

    point = stats(r)
    if n_boot > 0:
        bounds = _interval(_bootstrap(r, stats, int(n_boot), seed), ci)
    else:
        bounds = [None] * point.size
    acc = topk_accuracy(r, n_candidates, K_PERCENT)
    return {
        "n_queries": int(r.size),
        "n_candidates": int(n_candidates),
        "topk_percent": {"k_percent": K_PERCENT.tolist(), "accuracy": [float(a) for a in acc]},
        "top10pct": float(point[3]),
        "top10pct_ci": bounds[3],
        "recall_at": {str(k): float(point[4 + j]) for j, k in enumerate(ks)},
        "recall_at_ci": {str(k): bounds[4 + j] for j, k in enumerate(ks)},
        "median_rank": float(point[0]),
        "median_rank_ci": bounds[0],
        "mean_rank": float(point[1]),
        "mean_rank_ci": bounds[1],
        "mrr": float(point[2]),
        "mrr_ci": bounds[2],
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci": float(ci),
    }
