"""Retrieval metrics from ranks, with bootstrap confidence intervals.

Every metric here is a function of the 1-based rank of each query's true partner among ``n_candidates``
(see :mod:`skytext.eval.search`). Top-k % follows PAPERCLIP: a query counts as a hit at k % when its rank is at
most ``ceil(k / 100 * n_candidates)`` (computed in integers, so 10 % of 429 candidates is 43).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

K_PERCENT = np.arange(1, 101)
CI = 0.95  # coverage of every bootstrap interval (the reports say "95 % intervals"; no study configures it)
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


def topk_accuracy(ranks, n_candidates: int, k_percent) -> np.ndarray:
    """Fraction of queries whose rank is <= ``cutoff(n_candidates, k)`` for each ``k`` in ``k_percent``."""
    r = _check_ranks(ranks, n_candidates)
    m = cutoff(n_candidates, k_percent)
    return (r[:, None] <= np.atleast_1d(m)[None, :]).mean(axis=0).reshape(np.shape(m))


def best_rank_cdf(n_candidates: int, n_relevant: int) -> np.ndarray:
    """``P(best rank <= r)`` for ``r = 1..n`` when ``n_relevant`` of ``n_candidates`` are ranked at random.

    Hypergeometric: the best relevant candidate misses the top ``r`` when all ``n_relevant`` fall among the
    other ``n - r``, with probability ``C(n - m, r) / C(n, r)``; computed with log-gamma (exact to rounding,
    no overflow at any size). Returns float64 ``[n]``.
    """
    n, m = int(n_candidates), int(n_relevant)
    if n < 1 or not 1 <= m <= n:
        raise ValueError(f"need n_candidates >= 1 and 1 <= n_relevant <= n_candidates, got {n}, {m}")
    r = np.arange(1, n + 1, dtype=np.float64)
    possible = r <= n - m  # otherwise a relevant candidate is in the top r for sure
    rr = np.where(possible, r, 0.0)
    log_miss = gammaln(n - m + 1) + gammaln(n - rr + 1) - gammaln(n - m - rr + 1) - gammaln(n + 1)
    return np.where(possible, -np.expm1(log_miss), 1.0)


def random_baseline(n_candidates: int, k_percent, n_true: int = 1):
    """Expected top-k % accuracy when candidates are ranked at random (exact).

    With one true candidate its rank is uniform on ``1..n``, so the accuracy is ``m / n`` with
    ``m = cutoff(n, k)``. With ``n_true`` true candidates (hit when any of them is in the top ``m``) it is
    ``1 - C(n - n_true, m) / C(n, m)`` (:func:`best_rank_cdf`). Returns a float for a scalar ``k_percent``,
    else an array.
    """
    m = cutoff(n_candidates, k_percent)
    out = best_rank_cdf(n_candidates, n_true)[np.asarray(m) - 1]
    return float(out) if np.ndim(out) == 0 else out


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


def _check_summary_args(recall_at: Sequence[int]) -> list[int]:
    """The recall@k cut-offs as ints, checked."""
    ks = [int(k) for k in recall_at]
    if any(k < 1 for k in ks):
        raise ValueError(f"recall_at cut-offs must be >= 1, got {list(recall_at)}")
    return ks


def _rank_stats(n_candidates: int, ks: list[int]):
    """``stats(x)``: ``[..., n]`` ranks -> ``[..., 4 + len(ks)]`` = median, mean, MRR, top-10 %, recall@ks."""
    cuts = np.array([int(cutoff(n_candidates, 10)), *ks], dtype=np.float64)

    def stats(x: np.ndarray) -> np.ndarray:
        hits = (x[..., None] <= cuts).mean(axis=-2)
        return np.concatenate([np.stack([np.median(x, -1), x.mean(-1), (1.0 / x).mean(-1)], -1), hits], axis=-1)

    return stats


def _summary(n_queries: int, n_candidates: int, accuracy, point, bounds, ks, n_boot, seed, ci) -> dict:
    """The JSON dict of :func:`retrieval_summary` from its statistics (order as in :func:`_rank_stats`)."""
    return {
        "n_queries": int(n_queries),
        "n_candidates": int(n_candidates),
        "topk_percent": {"k_percent": K_PERCENT.tolist(), "accuracy": [float(a) for a in accuracy]},
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


def retrieval_summary(
    ranks,
    n_candidates: int,
    recall_at: Sequence[int],
    n_boot: int,
    seed: int,
) -> dict:
    """Summary of a retrieval run, JSON-ready.

    Args:
        ranks: 1-based rank of each query's true partner (ints, or floats from ``ties="mean"``).
        n_candidates: number of candidates each query was ranked against.
        recall_at: absolute cut-offs for recall@k (fraction of queries with rank <= k).
        n_boot: bootstrap resamples of the queries (0 disables intervals: they become ``None``).
        seed: seed of the resampling.

    Returns:
        ``n_queries``, ``n_candidates``; ``topk_percent`` = ``{"k_percent": [1..100], "accuracy": [...]}``
        where a query counts at k % when its rank <= ``ceil(k/100 * n_candidates)``; ``top10pct`` and
        ``top10pct_ci``; ``recall_at`` / ``recall_at_ci`` keyed by ``str(k)``; ``median_rank``, ``mean_rank``,
        ``mrr`` (mean reciprocal rank), each with ``*_ci``; and ``n_boot``, ``seed``, ``ci``.
        Intervals are ``[lo, hi]`` percentile bootstrap intervals over queries, of coverage :data:`CI`.
    """
    ks, ci = _check_summary_args(recall_at), CI
    r = _check_ranks(ranks, n_candidates)
    stats = _rank_stats(n_candidates, ks)
    point = stats(r)
    bounds = _interval(_bootstrap(r, stats, int(n_boot), seed), ci) if n_boot > 0 else [None] * point.size
    acc = topk_accuracy(r, n_candidates, K_PERCENT)
    return _summary(r.size, n_candidates, acc, point, bounds, ks, n_boot, seed, ci)


def _relevant_counts(n_candidates: int, n_relevant) -> tuple[np.ndarray, np.ndarray]:
    """(distinct counts, queries having each) of the relevant candidates per query, checked."""
    m = np.asarray(n_relevant).ravel()
    if m.size == 0:
        raise ValueError("no queries: nothing to summarise")
    if m.dtype.kind not in "iu" or m.min() < 1 or m.max() > int(n_candidates):
        raise ValueError(f"relevant candidates per query must be integers in 1..{n_candidates}")
    return np.unique(m, return_counts=True)


def _simulated_ranks(cdfs: list[np.ndarray], counts: np.ndarray, draws: int, rng) -> np.ndarray:
    """``[draws, n_queries]`` best ranks drawn from each query group's CDF (inverse-CDF sampling)."""
    parts = [np.searchsorted(c, rng.random((draws, int(n))), side="right") + 1 for c, n in zip(cdfs, counts)]
    return np.minimum(np.concatenate(parts, axis=1), len(cdfs[0])).astype(np.float64)


def random_summary(
    n_candidates: int,
    n_relevant,
    recall_at: Sequence[int],
    n_boot: int,
    seed: int,
) -> dict:
    """:func:`retrieval_summary` of a ranker that orders the candidates at random, for the same queries.

    ``n_relevant[i]`` is how many of the ``n_candidates`` are right answers for query ``i`` (1 for
    image->text; the images of the text's proposal for text->image); a query's rank is that of its best
    right answer (:func:`best_rank_cdf`). Top-k %, recall@k, mean rank and MRR are exact expectations;
    ``median_rank`` is the mean over ``max(n_boot, 1000)`` simulated random rankings of the query set, and
    each ``*_ci`` is the central :data:`CI` range of the statistic over those simulations: where a random
    ranker's score on this many queries falls (``None`` when ``n_boot`` is 0, as for models).
    """
    ks, ci = _check_summary_args(recall_at), CI
    n = int(n_candidates)
    values, counts = _relevant_counts(n, n_relevant)
    cdfs = [best_rank_cdf(n, m) for m in values]
    w = counts / counts.sum()
    cdf = sum(wi * c for wi, c in zip(w, cdfs))  # P(rank <= r) of a query drawn from this set
    pmf = np.diff(np.concatenate([[0.0], cdf]))
    r = np.arange(1, n + 1, dtype=np.float64)
    cut_hits = cdf[np.array([int(cutoff(n, 10)), *[min(k, n) for k in ks]]) - 1]
    stats = _rank_stats(n, ks)
    rng, draws = np.random.default_rng(seed), max(int(n_boot), 1000)
    block = max(1, _BOOT_BLOCK_ELEMENTS // int(counts.sum()))
    sims = np.concatenate([stats(_simulated_ranks(cdfs, counts, min(block, draws - s), rng))
                           for s in range(0, draws, block)])  # fmt: skip
    point = np.concatenate([[sims[:, 0].mean(), (pmf * r).sum(), (pmf / r).sum()], cut_hits])
    bounds = _interval(sims, ci) if n_boot > 0 else [None] * point.size
    acc = cdf[cutoff(n, K_PERCENT) - 1]
    return _summary(counts.sum(), n, acc, point, bounds, ks, n_boot, seed, ci)
