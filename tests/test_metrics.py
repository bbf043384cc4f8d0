"""skytext.eval.metrics against sklearn, brute-force loops and simulation."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import top_k_accuracy_score

from skytext.eval.metrics import (K_PERCENT, best_rank_cdf, cutoff, random_baseline, random_summary, retrieval_summary,
                                   topk_accuracy)
from functools import partial

from skytext.eval import search as _search
ranks_of_targets = partial(_search.ranks_of_targets, device="cpu")  # the CPU, as every test here


def test_cutoff_convention():
    assert cutoff(429, 10) == 43  # ceil(42.9)
    assert cutoff(100, 10) == 10  # exact, no float round-up to 11
    assert cutoff(7, 1) == 1
    np.testing.assert_array_equal(cutoff(300, [1, 33, 100]), [3, 99, 300])
    with pytest.raises(ValueError):
        cutoff(10, 0)


def test_topk_percent_matches_sklearn():
    rng = np.random.default_rng(0)
    n, nq = 57, 400
    q = rng.standard_normal((nq, 8)).astype(np.float32)
    keys = rng.standard_normal((n, 8)).astype(np.float32)
    y = rng.integers(0, n, nq)
    ranks = ranks_of_targets(q, keys, y, chunk_size=50)
    scores = q.astype(np.float64) @ keys.T.astype(np.float64)
    summary = retrieval_summary(ranks, n, n_boot=0, recall_at=(1, 5, 10), seed=0)
    acc = summary["topk_percent"]["accuracy"]
    assert summary["topk_percent"]["k_percent"] == list(range(1, 101))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when k >= n_classes
        for kp in range(1, 101):
            m = math.ceil(kp / 100 * n)
            want = top_k_accuracy_score(y, scores, k=m, labels=np.arange(n))
            assert acc[kp - 1] == pytest.approx(want), kp
    assert summary["top10pct"] == pytest.approx(acc[9])


def test_summary_matches_loops():
    rng = np.random.default_rng(1)
    n = 200
    ranks = rng.integers(1, n + 1, 333)
    s = retrieval_summary(ranks, n, recall_at=(1, 5, 10, 50), n_boot=0, seed=0)
    assert s["n_queries"] == 333 and s["n_candidates"] == n
    for k in (1, 5, 10, 50):
        assert s["recall_at"][str(k)] == pytest.approx(sum(1 for r in ranks if r <= k) / len(ranks))
    srt = sorted(ranks)
    assert s["median_rank"] == pytest.approx((srt[165] + srt[166]) / 2 if len(srt) % 2 == 0 else srt[166])
    assert s["mean_rank"] == pytest.approx(sum(ranks) / len(ranks))
    assert s["mrr"] == pytest.approx(sum(1 / r for r in ranks) / len(ranks))
    assert s["top10pct"] == pytest.approx(sum(1 for r in ranks if r <= 20) / len(ranks))
    assert s["top10pct_ci"] is None
    json.dumps(s)  # JSON-ready


def test_bootstrap_intervals_contain_estimate_and_shrink():
    rng = np.random.default_rng(2)
    n = 500
    draw = lambda size: np.minimum(rng.geometric(0.03, size), n)  # noqa: E731 - a decent model's ranks
    small = retrieval_summary(draw(100), n, n_boot=500, seed=3, recall_at=(1, 5, 10))
    large = retrieval_summary(draw(4000), n, n_boot=500, seed=3, recall_at=(1, 5, 10))
    for s in (small, large):
        for key in ("top10pct", "median_rank", "mean_rank", "mrr"):
            lo, hi = s[f"{key}_ci"]
            assert lo <= s[key] <= hi, key
        for k, (lo, hi) in s["recall_at_ci"].items():
            assert lo <= s["recall_at"][k] <= hi
    for key in ("top10pct", "median_rank", "mean_rank", "mrr"):
        width = lambda s: s[f"{key}_ci"][1] - s[f"{key}_ci"][0]  # noqa: E731
        assert width(large) < width(small), key


def test_bootstrap_interval_matches_binomial_width():
    # for a proportion p over n queries the 95 % interval is about p +- 1.96 sqrt(p(1-p)/n)
    rng = np.random.default_rng(4)
    n_cand, nq = 1000, 2000
    ranks = rng.integers(1, n_cand + 1, nq)
    s = retrieval_summary(ranks, n_cand, n_boot=2000, seed=0, recall_at=(1, 5, 10))
    p = s["top10pct"]
    width = s["top10pct_ci"][1] - s["top10pct_ci"][0]
    assert width == pytest.approx(2 * 1.96 * math.sqrt(p * (1 - p) / nq), rel=0.15)


def test_bootstrap_is_seeded():
    ranks = np.random.default_rng(5).integers(1, 51, 300)
    a = retrieval_summary(ranks, 50, n_boot=200, seed=7, recall_at=(1, 5, 10))
    b = retrieval_summary(ranks, 50, n_boot=200, seed=7, recall_at=(1, 5, 10))
    c = retrieval_summary(ranks, 50, n_boot=200, seed=8, recall_at=(1, 5, 10))
    assert a == b
    assert a["mean_rank_ci"] != c["mean_rank_ci"]


def test_float_ranks_from_mean_ties_are_accepted():
    s = retrieval_summary([1.0, 2.5, 3.0, 10.0], 10, n_boot=0, recall_at=(1, 5, 10), seed=0)
    assert s["mean_rank"] == pytest.approx(4.125)
    assert s["recall_at"]["1"] == pytest.approx(0.25)


def test_bad_ranks_are_named():
    with pytest.raises(ValueError, match="rank 11.0 of query 2"):
        retrieval_summary([1, 2, 11], 10, recall_at=(1, 5, 10), n_boot=0, seed=0)
    with pytest.raises(ValueError, match="rank 0.0 of query 0"):
        topk_accuracy([0, 2], 10, K_PERCENT)
    with pytest.raises(ValueError, match="no ranks"):
        retrieval_summary([], 10, recall_at=(1, 5, 10), n_boot=0, seed=0)


@pytest.mark.parametrize("n", [7, 100, 429])
def test_random_baseline_matches_simulation(n):
    rng = np.random.default_rng(n)
    ks = np.array([1, 5, 10, 20, 50, 100])
    ranks = rng.integers(1, n + 1, 200_000)
    sim = topk_accuracy(ranks, n, ks)
    np.testing.assert_allclose(random_baseline(n, ks), sim, atol=4e-3)
    assert random_baseline(100, 10) == pytest.approx(0.10)
    assert random_baseline(7, 10) == pytest.approx(1 / 7)


def test_random_baseline_several_true_candidates_matches_simulation():
    rng = np.random.default_rng(9)
    n, t, trials = 60, 4, 40_000
    # best rank of t distinct random positions among n
    best = np.argsort(rng.random((trials, n)), axis=1)[:, :t].min(axis=1) + 1
    ks = np.array([1, 5, 10, 25])
    np.testing.assert_allclose(random_baseline(n, ks, n_true=t), topk_accuracy(best, n, ks), atol=8e-3)
    assert random_baseline(n, 100, n_true=t) == pytest.approx(1.0)


@pytest.mark.parametrize(("n", "m"), [(7, 1), (60, 4), (210, 6), (50, 50)])
def test_best_rank_cdf_is_exact_hypergeometric(n, m):
    """P(best of m random positions among n is <= r): against simulation with many draws and exact integers."""
    rng = np.random.default_rng(n * 100 + m)
    draws = 100_000
    best = np.argsort(rng.random((draws, n)), axis=1)[:, :m].min(axis=1) + 1
    sim = np.searchsorted(np.sort(best), np.arange(1, n + 1), side="right") / draws
    cdf = best_rank_cdf(n, m)
    np.testing.assert_allclose(cdf, sim, atol=5e-3)
    for r in sorted({1, n // 3, max(1, n - m), n}):
        exact = 1 - math.comb(n - m, r) / math.comb(n, r) if r <= n - m else 1.0
        assert cdf[r - 1] == pytest.approx(exact, abs=1e-12)


def test_random_summary_matches_simulation_with_mixed_relevant_counts():
    """The demo's text->image chance: 3-6 images per proposal among 210, chance computed per text."""
    rng = np.random.default_rng(11)
    n, m = 210, np.repeat([3, 4, 5, 6], [13, 14, 11, 10])  # the demo's test split: 48 proposals, 210 images
    s = random_summary(n, m, recall_at=(1, 5, 10), n_boot=500, seed=0)
    trials = 20_000
    ranks = np.stack([np.argsort(rng.random((trials, n)), axis=1)[:, :mi].min(axis=1) + 1 for mi in m], axis=1)
    flat = ranks.ravel().astype(float)
    assert s["top10pct"] == pytest.approx((flat <= 21).mean(), abs=3e-3)
    assert s["top10pct"] == pytest.approx(0.368, abs=1e-3)  # not 0.346, the chance of 4 images for everyone
    assert s["top10pct"] > random_baseline(n, 10, n_true=4)
    for k in (1, 5, 10):
        assert s["recall_at"][str(k)] == pytest.approx((flat <= k).mean(), abs=3e-3)
    assert s["mean_rank"] == pytest.approx(np.mean((n + 1) / (m + 1)), rel=1e-9)  # E[best] = (n+1)/(m+1)
    assert s["mrr"] == pytest.approx((1 / flat).mean(), abs=2e-3)
    assert s["median_rank"] == pytest.approx(np.median(ranks, axis=1).mean(), rel=0.03)
    lo, hi = s["top10pct_ci"]
    per_draw = (ranks <= 21).mean(axis=1)  # what a random ranker scores on these 48 queries
    assert lo == pytest.approx(np.quantile(per_draw, 0.025), abs=0.03) and hi == pytest.approx(np.quantile(per_draw, 0.975), abs=0.03)
    assert s["topk_percent"]["accuracy"][9] == pytest.approx(s["top10pct"])
    assert s["n_queries"] == len(m) and s["n_candidates"] == n
    same = retrieval_summary([1, 2], 10, recall_at=(1, 5, 10), n_boot=10, seed=0)
    assert set(s) == set(same)  # the same contract as a model's summary
    json.dumps(s)


def test_random_summary_single_relevant_is_m_over_n():
    s = random_summary(48, np.ones(210, dtype=int), n_boot=0, recall_at=(1, 5, 10), seed=0)
    assert s["top10pct"] == pytest.approx(5 / 48) and s["recall_at"]["1"] == pytest.approx(1 / 48)
    assert s["mean_rank"] == pytest.approx(24.5) and s["top10pct_ci"] is None
    with pytest.raises(ValueError, match="1..48"):
        random_summary(48, [0, 1], recall_at=(1, 5, 10), n_boot=0, seed=0)
