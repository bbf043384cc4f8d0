"""The analysis numbers against a known answer and against independent computations: synthetic embeddings
that encode some properties and not others; kNN as scikit-learn computes it; CKA and mutual kNN of rotated
and independent copies."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, mean_absolute_error, r2_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from skytext.analysis import synthetic
from skytext.analysis.catalogue import split_objects
from skytext.analysis.probes import have_faiss, knn_classify, knn_regress, knn_search, run_probes, scores
from skytext.analysis.similarity import compare, linear_cka, mutual_knn, object_cosines
from skytext.core.config import defaults

BACKENDS = ["sklearn"] + (["faiss"] if have_faiss() else [])


@pytest.fixture(scope="module")
def syn():
    """(X, objects) of 1,500 synthetic objects with a known answer, split 70/30."""
    cat = synthetic.catalogue(1500, seed=0)
    X = synthetic.embed(cat, dims=24, noise=0.05, seed=1)
    objects = cat.rename(columns={"object_id": "id"})
    objects["split"] = split_objects(objects["id"], 0.3, 0)
    return X, objects


def test_known_answer_encoded_properties_high_others_near_zero(syn):
    X, objects = syn
    cfg = {**defaults("analysis.probes"), "n_boot": 200, "mlp_max_iter": 100, "mlp_alphas": [1.0]}
    table, preds, notes = run_probes(X, objects, ["encoded_a", "encoded_b", "noise_c", "noise_d"],
                                     ["shape", "coin"], cfg, 0, "syn")
    assert not [n for n in notes if "not scored" in n]
    r2 = table[(table.method == "knn") & (table.metric == "r2")].set_index("property")
    assert r2.loc["encoded_a", "value"] > 0.9 and r2.loc["encoded_b", "value"] > 0.9
    for p in ("noise_c", "noise_d"):
        assert abs(r2.loc[p, "value"]) < 0.1 and r2.loc[p, "ci_lo"] < 0.02  # no signal: CI reaches ~0
    for method in ("linear", "mlp"):
        r = table[(table.method == method) & (table.metric == "r2")].set_index("property")["value"]
        assert r["encoded_a"] > 0.8 and r["encoded_b"] > 0.8 and abs(r["noise_c"]) < 0.15, (method, r.to_dict())
    bacc = table[(table.method == "knn") & (table.metric == "balanced_accuracy")].set_index("property")
    assert bacc.loc["shape", "value"] > 0.9 and abs(bacc.loc["coin", "value"] - 0.5) < 0.08
    # the saved predictions reproduce the table (independent scorer)
    p = preds[(preds.property == "encoded_a") & (preds.method == "knn")]
    assert r2.loc["encoded_a", "value"] == pytest.approx(r2_score(p.y_true, p.y_pred), abs=1e-9)
    assert (r2["ci_lo"] <= r2["value"]).all() and (r2["value"] <= r2["ci_hi"]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_knn_matches_scikit_learn(syn, backend):
    X, objects = syn
    tr, te = np.flatnonzero(objects.split == "train"), np.flatnonzero(objects.split == "test")
    scaler = StandardScaler().fit(X[tr])
    Ztr, Zte = scaler.transform(X[tr]), scaler.transform(X[te])
    y = objects["encoded_a"].to_numpy()
    ref = KNeighborsRegressor(n_neighbors=64, weights="distance").fit(Ztr, y[tr]).predict(Zte)
    dist, idx = knn_search(Ztr, Zte, 64, "euclidean", backend)
    np.testing.assert_allclose(knn_regress(dist, idx, y[tr], "distance"), ref, rtol=1e-4, atol=1e-5)
    codes = (objects["shape"] == "sphere").to_numpy().astype(np.int64)
    ref_c = KNeighborsClassifier(n_neighbors=64, weights="distance").fit(Ztr, codes[tr]).predict(Zte)
    assert (knn_classify(dist, idx, codes[tr], 2, "distance") == ref_c).mean() > 0.995
    dist, idx = knn_search(Ztr, Zte, 5, "cosine", backend)
    ref_u = KNeighborsRegressor(n_neighbors=5, metric="cosine", algorithm="brute").fit(Ztr, y[tr]).predict(Zte)
    np.testing.assert_allclose(knn_regress(dist, idx, y[tr], "uniform"), ref_u, rtol=1e-4, atol=1e-5)


def test_exact_match_takes_all_weight():
    train = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], np.float32)
    dist, idx = knn_search(train, train[:1], 3, "euclidean", "sklearn")
    assert knn_regress(dist, idx, np.array([5.0, 1.0, 9.0]), "distance")[0] == 5.0


def test_scores_match_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    p = y + rng.normal(scale=0.5, size=300)
    s = scores("regression", y, p, 300, 0, 0.95)
    assert s["r2"][0] == pytest.approx(r2_score(y, p)) and s["mae"][0] == pytest.approx(mean_absolute_error(y, p))
    assert s["r2"][1] < s["r2"][0] < s["r2"][2]
    yc = rng.integers(0, 3, 300)
    pc = np.where(rng.random(300) < 0.7, yc, rng.integers(0, 3, 300))
    s = scores("classification", yc, pc, 300, 0, 0.95, 3)
    assert s["accuracy"][0] == pytest.approx(accuracy_score(yc, pc))
    assert s["balanced_accuracy"][0] == pytest.approx(balanced_accuracy_score(yc, pc))
    assert s["balanced_accuracy"][1] < s["balanced_accuracy"][0] < s["balanced_accuracy"][2]


def _cka_by_kernels(X, Y):
    """Linear CKA from centred Gram matrices (HSIC form), independent of the feature-space formula."""
    n = len(X)
    H = np.eye(n) - 1.0 / n
    K, L = H @ (X @ X.T) @ H, H @ (Y @ Y.T) @ H
    return np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))


def test_cka_rotation_one_independent_zero(syn):
    X = syn[0][:400].astype(np.float64)
    R = synthetic.random_rotation(X.shape[1], seed=7)
    Y = np.random.default_rng(9).normal(size=X.shape)
    assert linear_cka(X, X @ R) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(X, Y) < 0.1
    assert linear_cka(X, Y) == pytest.approx(_cka_by_kernels(X, Y), rel=1e-9)
    assert linear_cka(X, X ** 3) == pytest.approx(_cka_by_kernels(X, X ** 3), rel=1e-9)
    assert mutual_knn(X, X @ R, 10, "auto") == pytest.approx(1.0)  # cosine neighbours survive rotation
    assert mutual_knn(X, Y, 10, "auto") < 0.1
    np.testing.assert_allclose(object_cosines(X, 3 * X), 1.0, rtol=1e-6)


def test_pairs_join_on_shared_ids_only(syn):
    X = syn[0][:200]
    ids = np.array([f"o{i}" for i in range(200)], dtype=object)
    cfg = defaults("analysis.pairs")
    # b holds objects 50..249 in another order: the 150 shared ones must be matched by id, not by row
    perm = np.random.default_rng(0).permutation(200)
    ids_b = np.array([f"o{i}" for i in range(50, 250)], dtype=object)[perm]
    Xb = np.vstack([X[50:], np.random.default_rng(1).normal(size=(50, X.shape[1]))])[perm]
    row, cos = compare("a", ids, X, "str", "b", ids_b, Xb, "str", cfg, 0)
    assert row["n_shared"] == 150 and row["only_in_a"] == 50 and row["only_in_b"] == 50
    assert row["cka_linear"] == pytest.approx(1.0) and row["cosine_mean"] == pytest.approx(1.0, abs=1e-6)
    row, cos = compare("a", ids, X, "str", "c", np.arange(200), X, "int", cfg, 0)
    assert row["n_shared"] == 0 and "id types differ" in row["note"] and cos is None


def test_linear_probe_equals_separate_cross_validated_ridge_fits(syn):
    from sklearn.linear_model import RidgeCV

    X, objects = syn
    cfg = {**defaults("analysis.probes"), "n_boot": 0, "methods": ["linear"]}
    _, preds, _ = run_probes(X, objects, ["encoded_a", "noise_c"], [], cfg, 0, "syn")
    tr, te = np.flatnonzero(objects.split == "train"), np.flatnonzero(objects.split == "test")
    Z = (X - X[tr].mean(0)) / X[tr].std(0)
    for prop in ("encoded_a", "noise_c"):
        ref = RidgeCV(alphas=cfg["ridge_alphas"]).fit(Z[tr], objects[prop].to_numpy()[tr]).predict(Z[te])
        got = preds[(preds.property == prop) & (preds.method == "linear")]["y_pred"].to_numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-4)  # float32 vs float64


def test_pair_by_averages_rows_sharing_the_key():
    from skytext.analysis.steps import pair_view

    X = np.array([[1, 0], [3, 2], [5, 5]], np.float32)
    objects = pd.DataFrame({"id": ["o1", "o2", "o3"], "proposal_id": ["p1", "p1", "p2"]})
    Xp, op, cp = pair_view(X, objects, {"pair_by": "proposal_id", "id_type": "str", "set": "s"})
    assert op["id"].tolist() == ["p1", "p2"] and cp["id_type"] == "str"
    np.testing.assert_allclose(Xp, [[2, 1], [5, 5]])
