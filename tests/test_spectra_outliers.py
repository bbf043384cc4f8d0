"""The spectra study's default outlier ranking: the class surprise of a spectrum, robust z-scores (within bins of
counts), and a combination that finds at least what its best space finds (issue 22 item 2)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from skytext.spectra.outliers import class_surprise, combined, planted_metrics, rank_normalised, robust_z


def clusters(n_per=60, k=4, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres])
    y = np.repeat([f"c{i}" for i in range(k)], n_per).astype(object)
    return x, y


def test_class_surprise_is_out_of_fold_and_finds_relabelled_sources():
    x, y = clusters()
    swapped = [5, 70, 130, 200]
    for i in swapped:  # catalogue says another class than the spectrum shows
        y[i] = "c3" if y[i] != "c3" else "c0"
    s = class_surprise(x, y, seed=0, folds=5)
    assert set(np.argsort(-s)[:4]) == set(swapped)
    # each source's probability comes from a model that never saw it: recompute one fold by hand
    from sklearn.model_selection import StratifiedKFold

    tr, te = next(StratifiedKFold(5, shuffle=True, random_state=0).split(x, y))
    sc = StandardScaler().fit(x[tr])
    clf = LogisticRegression(max_iter=3000).fit(sc.transform(x[tr]), y[tr])
    p = clf.predict_proba(sc.transform(x[te]))[np.arange(len(te)), np.searchsorted(clf.classes_, y[te])]
    np.testing.assert_allclose(s[te], -np.log(np.clip(p, 1e-9, 1)), rtol=1e-6)


def test_class_surprise_leaves_unknown_and_rare_classes_out():
    x, y = clusters(n_per=30, k=3)
    y[:5] = "unknown"
    y[5] = " Unknown "
    y[40:43] = "rare"  # fewer than 5 members
    s = class_surprise(x, pd.Series(y), seed=1)
    assert np.isnan(s[:6]).all() and np.isnan(s[40:43]).all() and np.isfinite(np.delete(s, [*range(6), 40, 41, 42])).all()
    assert class_surprise(x, np.array(["unknown"] * len(x)), seed=0) is None
    assert class_surprise(x, np.array(["a"] * len(x)), seed=0) is None


def test_robust_z_compares_like_with_like():
    rng = np.random.default_rng(2)
    counts = rng.uniform(1, 4, 1000)
    score = 3.0 / counts + 0.05 * rng.normal(size=1000)  # faint sources score high by nature
    score[10] = 3.0 / counts[10] + 0.6  # one source far out among sources of its counts
    assert np.argmax(robust_z(score, counts)) == 10 and np.argmax(robust_z(score)) != 10
    z = robust_z(np.r_[np.nan, rng.normal(size=99)])
    assert z[0] == 0 and abs(np.median(z[1:])) < 1e-12
    assert np.all(robust_z(np.ones(5)) == 0)  # no spread: nothing is far out


def test_a_space_whose_top_is_its_bulk_adds_nothing():
    """The old default (the largest rank-normalised score) let a space without outliers fill half the top list;
    the robust z-score of a space with no tail is small, so the combination keeps the best space's finds."""
    rng = np.random.default_rng(3)
    n = 900
    truth = np.zeros(n, bool)
    truth[:12] = True
    text = rng.normal(size=n)
    text[:8] += 8.0  # eight far out in text
    label = rng.normal(size=n)
    label[8:12] += 6.0  # four in the class surprise
    noise = rng.normal(size=n)  # a space with no outliers at all
    spaces = {"text": text, "class": label, "spectral": noise}
    res = planted_metrics({"ranking": combined(spaces), **spaces}, truth, 25)
    best = max(res[k]["found_at_12"] for k in spaces)
    assert res["ranking"]["found_at_12"] >= best and res["ranking"]["found_at_12"] == 12
    old = np.max(np.stack([rank_normalised(v) for v in spaces.values()]), axis=0)
    assert planted_metrics({"old": old}, truth, 25)["old"]["found_at_12"] < best


@pytest.mark.parametrize("combine", [["text"], ["text", "class"]])
def test_combined_with_one_space_is_that_space(combine):
    rng = np.random.default_rng(4)
    v = {c: rng.normal(size=50) for c in combine}
    if len(combine) == 1:
        assert np.array_equal(np.argsort(combined(v)), np.argsort(v["text"]))
    else:
        assert np.allclose(combined(v), np.maximum(robust_z(v["text"]), robust_z(v["class"])))


def test_outliers_read_whole_text_embeddings_pooled_like_the_text_space(monkeypatch):
    """The outlier ranking's text space (embed/text_whole.npy) pools embeddings of whole texts even when the
    heads train on sentence-level ones: one unusual sentence moves a whole-text embedding, not a sentence mean."""
    from skytext.core.config import defaults
    from skytext.spectra import texts as T

    table = {"A one.": [1.0, 0.0], "B two.": [0.0, 1.0], "C.": [3.0, 4.0], "A one. B two.": [0.0, 2.0]}
    monkeypatch.setattr(T, "_embed_units", lambda units, cfg, llm: (
        np.array([table[u] for u in units], np.float32), list(range(len(units))), {}))
    tx = pd.DataFrame({"text_id": ["p1", "p2"], "text": ["A one. B two.", "C."]})
    src = pd.DataFrame({"source_id": ["s1", "s2", "s3"], "split": ["train", "test", "val"]})
    links = pd.DataFrame({"source_id": ["s1", "s2"], "text_id": ["p1", "p2"]})
    cfg = {**defaults("spectra.text_encoder"), "granularity": "sentence"}
    vec, ids, _ = T.embed(tx, cfg, {})
    pooled, meta = T.pool(vec, ids["text_id"], links, src, cfg["pool_weighting"])
    whole = T.whole_text_pooled(tx, cfg, {}, links, src, meta, pooled)
    assert meta["source_id"].tolist() == ["s1", "s2"] and whole.shape == pooled.shape
    np.testing.assert_allclose(whole, [[0, 1], [0.6, 0.8]], atol=1e-6)
    assert not np.allclose(whole[0], pooled[0])  # the sentence mean differs
    same = T.whole_text_pooled(tx, {**cfg, "granularity": "text"}, {}, links, src, meta, pooled)
    assert same is pooled
