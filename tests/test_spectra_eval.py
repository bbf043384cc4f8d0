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


def test_combined_ranking_finds_what_each_space_finds_and_chance_has_no_floor():
    from skytext.spectra.outliers import combined, planted_metrics

    rng = np.random.default_rng(0)
    n = 300
    truth = np.zeros(n, bool)
    truth[:9] = True
    spaces = {s: rng.random(n) for s in ("shared", "spectral", "text")}
    for j, s in enumerate(spaces):  # each space sees three outliers, a different three
        spaces[s][3 * j: 3 * j + 3] = 2.0
    spaces["text"][3:6] = 1.5  # text sees six of them
    res = planted_metrics({"ranking": combined(spaces), **spaces}, truth, 25)
    found = {k: res[k]["found_at_9"] for k in ("ranking", *spaces)}
    assert found["ranking"] >= max(found[s] for s in spaces) and found["ranking"] == 9
    assert res["chance_precision"] == 9 / 300  # exact, no 1/n floor anywhere
    assert np.isclose(res["spectral"]["precision_over_chance_at_9"], res["spectral"]["precision_at_9"] / (9 / 300))
    none = planted_metrics({"x": -np.arange(n, dtype=float)}, truth[::-1].copy(), 9)
    assert none["x"]["precision_at_9"] == 0.0 and none["x"]["precision_over_chance_at_9"] == 0.0


def test_headline_states_the_rank_cut_and_recall_at_rank_1():
    ranks = np.array([1, 1, 2, 3, 50] + [10] * 135)
    res = {"ensemble": {"spectrum_to_text": {"ranks": ranks.tolist(), "recall_at_pct": {
        "k_percent": [1.0], "recall": [float(np.mean(ranks <= 2))]}}},
        "shuffled": {"spectrum_to_text": {"ranks": [70] * 140, "recall_at_pct": {"k_percent": [1.0], "recall": [0.0]}}}}
    h = retrieval.headline(res, 140, 140)
    assert h["rank_cut_1pct"] == 2 and h["rank_cut_statement"] == "1% of 140 candidates = rank <= 2"
    assert h["spectrum_to_text_recall_at_1"]["ensemble"] == 2 / 140
    assert h["spectrum_to_text_recall_at_1pct"]["ensemble"] == 3 / 140
    assert h["ensemble_over_shuffled"] is None  # a control that finds none gives no ratio (no 1/n floor)


def test_regression_predictions_table_has_each_scored_source_true_and_moe_values():
    """eval/regression_predictions.parquet: one row per source of the scored split, <var>_true and <var>_pred."""
    import numpy as np

    from skytext.spectra.regression import prediction_table

    y = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 6.0]])
    pred = np.array([[1.1, 0.0], [2.2, 4.0], [2.9, 6.5]])
    t = prediction_table(["a", "b", "c"], np.array([True, False, True]), y, pred, ["nh", "kt"], np.array([0, 2]), "test")
    assert t["source_id"].tolist() == ["a", "c"] and t["has_papers"].tolist() == [True, True]
    assert list(t.columns) == ["source_id", "split", "has_papers", "nh_true", "nh_pred", "kt_true", "kt_pred"]
    assert t["kt_true"].isna().tolist() == [True, False] and t["nh_pred"].tolist() == [1.1, 2.9]
    assert (t["split"] == "test").all()


def test_regression_rule_declares_the_predictions_output():
    from pathlib import Path

    rule = (Path(__file__).resolve().parents[1] / "workflow/rules/spectra/evaluate.smk").read_text()
    block = rule.split("rule spectra_regression:")[1].split("log:")[0]
    assert 'eval/regression_predictions.parquet"' in block
