"""Regression scores, retrieval counting and outlier metrics against independent computations."""

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, r2_score

from skytext.core.config import defaults
from skytext.eval.regression import scores
from skytext.spectra import retrieval
from skytext.spectra.outliers import fused, precision_recall_at
from skytext.spectra.outliers import scores as anomaly


def test_regression_scores_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(80, 3))
    y[:10, 2] = np.nan
    good, bad = y + 0.3 * rng.normal(size=y.shape), y + 1.0 * rng.normal(size=y.shape)
    t = scores(y, {"bad": bad, "good": good}, ["a", "b", "c"], "bad", n_boot=200, seed=0)
    for j, v in enumerate("abc"):
        m = np.isfinite(y[:, j])
        row = t[(t["variable"] == v) & (t["features"] == "good")].iloc[0]
        assert np.isclose(row["r2"], r2_score(y[m, j], good[m, j]))
        assert np.isclose(row["mae"], mean_absolute_error(y[m, j], good[m, j]))
        assert row["r2_lo"] <= row["r2"] <= row["r2_hi"] and row["n"] == m.sum()
    mean = t[(t["variable"] == "mean") & (t["features"] == "good")].iloc[0]
    ref = t[(t["variable"] == "mean") & (t["features"] == "bad")].iloc[0]
    assert np.isclose(mean["r2_gain"], mean["r2"] - ref["r2"]) and mean["r2_gain_lo"] > 0
    assert np.isclose(mean["improvement_pct"], 100 * mean["r2_gain"] / abs(ref["r2"]))


def _brute_rank(q, keys, targets):
    s = q @ keys.T
    return np.array([1 + (s[i] > s[i, targets[i]].max()).sum() for i in range(len(q))])


def test_retrieval_counts_shared_paper_sets_once():
    rng = np.random.default_rng(1)
    n = 30
    meta = pd.DataFrame({"source_id": [f"s{i}" for i in range(n)], "split": ["test"] * 25 + ["train"] * 5})
    keys = [f"k{i}" for i in range(n)]
    keys[1] = keys[0]  # two sources discuss by the same single paper set
    tmeta = meta.assign(paper_set=keys)
    spec = rng.normal(size=(n, 5)).astype(np.float32)
    spec /= np.linalg.norm(spec, axis=1, keepdims=True)
    text = spec + 0.8 * rng.normal(size=spec.shape).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    s_rows, t_rows, s_keys, t_keys = retrieval.candidates(meta, tmeta, "test")
    assert len(s_rows) == 25 and len(t_rows) == 24
    cfg = defaults("spectra.eval")
    res = retrieval.evaluate(spec, text, s_rows, t_rows, s_keys, t_keys, {**cfg, "n_boot": 50}, 0)
    tpos = {k: i for i, k in enumerate(t_keys)}
    s2t = _brute_rank(spec[s_rows], text[t_rows], [[tpos[k]] for k in s_keys])
    curve = res["spectrum_to_text"]["recall_at_pct"]
    for k, r in zip(curve["k_percent"], curve["recall"]):
        assert np.isclose(r, (s2t <= max(1, int(np.ceil(k * 24 / 100)))).mean())
    spec_of = [[i for i, kk in enumerate(s_keys) if kk == k] for k in t_keys]
    t2s = _brute_rank(text[t_rows], spec[s_rows], spec_of)
    assert np.isclose(res["text_to_spectrum"]["recall_at"]["1"], (t2s <= 1).mean())
    assert res["text_to_spectrum"]["n_relevant"] == {"1": 23, "2": 1}
    base = retrieval.baselines(s_keys, t_keys, meta["source_id"].iloc[s_rows].tolist(), None, cfg, 0)
    assert np.isclose(base["random"]["spectrum_to_text"]["recall_at_pct"]["recall"][1], 1 / 24)


def test_outlier_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    x[:3] += 8  # three far points
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    truth = np.zeros(200, bool)
    truth[:3] = True
    truth[199] = True
    p, r = precision_recall_at(np.r_[[3, 2, 1], np.zeros(197)], truth, 4)
    assert (p, r) == (0.75, 0.75)
    sc = anomaly(x, "knn", 5, 0)
    assert sc.shape == (200,) and np.all(np.isfinite(sc))
    assert anomaly(x, "iforest", 5, 0).shape == (200,)
    f = fused(x[:, :2], x[:, 2:])
    assert np.allclose(np.linalg.norm(f, axis=1), 1)
