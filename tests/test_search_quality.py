"""Search quality: prompt ensembling, the calibrated score, the "no good match" threshold, the search
evaluation (issue #13 item 5), on a synthetic CLIP with the failure seen on the demo: every text, nonsense
included, close to every image. (The micro demo's 60-step model is too weak to show search quality either
way; the full demo's numbers are in the README.)"""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from skytext.eval import explore
from skytext.eval.query import (Calibration, choose_threshold, encode_queries, plural, query_texts,
                                read_templates)
from skytext.eval.search import topk
from skytext.core.vocab import read_lines

from conftest import ROOT

VOCAB = ROOT / "resources" / "vocab"
D, V = 128, 4096


class BagOfWords:
    """A CLIP-like text tower: hashed word counts -> linear map, plus a large offset shared by every text (the
    demo model's trouble: any text, nonsense included, has cosine ~0.8 with any image)."""

    def __init__(self, offset: float = 3.0, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(V, D, generator=g)
        self.offset = offset * torch.nn.functional.normalize(torch.randn(D, generator=g), dim=0)
        self.calls: list[list[str]] = []

    def tokenizer(self, texts):
        self.calls.append(list(texts))
        out = torch.zeros(len(texts), V)
        for i, t in enumerate(texts):
            words = [w.strip(".,:").lower() for w in t.split()]
            for w in words:
                out[i, zlib.crc32(w.encode()) % V] += 1.0 / len(words)
        return out

    def encode_text(self, tokens):
        return tokens @ self.w + self.offset * tokens.sum(1, keepdim=True).clamp_max(1) * 10


CLASSES = {"spiral": "spiral galaxies", "globular": "globular clusters", "nebula": "emission nebulae",
           "lens": "gravitational lenses"}


def synthetic_sky(bow: BagOfWords, per_class: int = 30, seed: int = 1):
    """Image embeddings near their class phrase, all sharing the text offset; ids with the true class."""
    rng = np.random.default_rng(seed)
    base = encode_queries(bow, bow.tokenizer, list(CLASSES.values()))
    img = np.repeat(base, per_class, axis=0) + 0.06 * rng.standard_normal((per_class * len(CLASSES), D))
    img = (img / np.linalg.norm(img, axis=1, keepdims=True)).astype(np.float32)
    cls = np.repeat(list(CLASSES), per_class)
    return img, pd.DataFrame({"obs_id": [f"o{i}" for i in range(len(img))], "gt_class": cls})


# ----------------------------------------------------------------------------------------------- templates
def test_plural_and_query_texts():
    assert plural("globular cluster") == "globular clusters"
    assert plural("elliptical galaxy") == "elliptical galaxies"
    assert plural("emission nebula") == "emission nebulae"
    assert plural("gravitational lens") == "gravitational lens"  # ends in s: left alone
    assert plural("SN1987A") == "SN1987A" and plural("") == ""
    assert query_texts("star field") == ["star field"]  # as typed
    assert query_texts("star field", ["an image of {}.", "{}"]) == ["an image of star field.", "an image of star fields.",
                                                                    "star field", "star fields"]


def test_shipped_templates_are_valid(tmp_path):
    templates = read_templates(VOCAB / "query_templates.txt")
    assert len(templates) >= 4 and any(t.lower().startswith("an image of") for t in templates)
    bad = tmp_path / "t.txt"
    bad.write_text("a photo of\n")
    with pytest.raises(ValueError, match="exactly once"):
        read_templates(bad)
    nulls = read_lines(VOCAB / "null_queries.txt")
    assert len(nulls) >= 10 and "banana bread recipe" not in nulls  # the test's nonsense query stays held out


def test_encode_queries_is_the_mean_of_normalised_template_embeddings():
    bow = BagOfWords()
    templates = ["an image of {}.", "This program targets {}."]
    got = encode_queries(bow, bow.tokenizer, ["globular cluster", "SN1987A"], templates)
    for row, q in zip(got, ["globular cluster", "SN1987A"]):
        e = bow.encode_text(bow.tokenizer(query_texts(q, templates))).numpy()
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        want = e.mean(0) / np.linalg.norm(e.mean(0))
        np.testing.assert_allclose(row, want, atol=1e-6)
    assert len(query_texts("globular cluster", templates)) == 4 and len(query_texts("SN1987A", templates)) == 2


# ----------------------------------------------------------------------------------------------- calibration
def test_calibrated_search_matches_brute_force():
    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    keys, bg, q = unit(rng.normal(size=(300, 16))), unit(rng.normal(size=(25, 16))), unit(rng.normal(size=(7, 16)))
    cal = Calibration.from_embeddings(bg)
    z, idx, cos = cal.search(q, keys, 9, chunk_size=64)
    sb = bg.astype(np.float64) @ keys.T.astype(np.float64)  # [B, n]
    brute = (q.astype(np.float64) @ keys.T - sb.mean(0)) / sb.std(0)
    np.testing.assert_array_equal(idx, np.argsort(-brute, axis=1, kind="stable")[:, :9])
    np.testing.assert_allclose(z, np.take_along_axis(brute, idx, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cos, np.take_along_axis(q @ keys.T, idx, 1), atol=1e-5)
    np.testing.assert_allclose(cal.key_scales(keys, chunk_size=7), 1 / sb.std(0), rtol=1e-4)


def test_topk_key_weights_match_brute_force():
    rng = np.random.default_rng(3)
    q, keys, w = rng.normal(size=(11, 8)).astype(np.float32), rng.normal(size=(90, 8)).astype(np.float32), rng.random(90)
    s, i = topk(q, keys, 5, chunk_size=4, key_chunk_size=13, key_weights=w)
    brute = (q.astype(np.float64) @ keys.T) * w
    np.testing.assert_array_equal(i, np.argsort(-brute, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(s, np.take_along_axis(brute, i, 1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="key_weights"):
        topk(q, keys, 5, key_weights=w[:10])


def test_choose_threshold_maximises_separation():
    assert choose_threshold([3.0, 4.0, 5.0], [1.0, 2.0]) == pytest.approx(2.5)
    # one off-topic query scoring high costs less than losing two class queries
    t = choose_threshold([1.5, 2.4, 2.6, 3.0], [0.5, 1.0, 1.2, 2.5])
    assert 1.2 < t < 1.5
    with pytest.raises(ValueError):
        choose_threshold([], [1.0])


def test_nonsense_scores_as_high_as_real_matches_raw_but_not_calibrated():
    """The demo's failure in miniature: raw cosines of nonsense queries rival real matches; the calibrated
    score puts them below a threshold chosen on a separate (val) sky, and class queries above it."""
    bow = BagOfWords()
    img, ids = synthetic_sky(bow)
    val_img, _ = synthetic_sky(bow, seed=2)
    templates = read_templates(VOCAB / "query_templates.txt")
    real = encode_queries(bow, bow.tokenizer, ["spiral galaxy", "globular cluster", "emission nebula"], templates)
    junk = encode_queries(bow, bow.tokenizer, ["banana bread recipe", "quarterly tax return"], templates)
    raw_real, raw_junk = topk(real, img, 1)[0][:, 0], topk(junk, img, 1)[0][:, 0]
    assert raw_junk.max() > 0.8 * raw_real.min()  # raw: no usable gap
    cal = Calibration.from_embeddings(encode_queries(bow, bow.tokenizer, read_lines(VOCAB / "descriptions.txt"), templates))
    nulls = encode_queries(bow, bow.tokenizer, read_lines(VOCAB / "null_queries.txt"), templates)
    threshold = choose_threshold(cal.search(real, val_img, 1)[0][:, 0], cal.search(nulls, val_img, 1)[0][:, 0])
    z_real, idx, _ = cal.search(real, img, 10)
    z_junk = cal.search(junk, img, 1)[0][:, 0]
    assert z_junk.max() < threshold <= z_real[:, 0].min()
    for row, c in zip(idx, ["spiral", "globular", "nebula"]):
        assert (ids["gt_class"].to_numpy()[row] == c).all()


def test_search_evaluation_reports_precision_threshold_and_rates():
    bow = BagOfWords()
    img, ids = synthetic_sky(bow)
    val_img, val_ids = synthetic_sky(bow, seed=2)
    gt = dict(zip(ids["obs_id"], ids["gt_class"]))
    res = explore.search_evaluation(bow, bow.tokenizer, (val_img, val_ids), (img, ids), gt,
                                    read_templates(VOCAB / "query_templates.txt"), read_lines(VOCAB / "descriptions.txt"),
                                    read_lines(VOCAB / "null_queries.txt"))
    rows = {r["class"]: r for r in res["queries"]}
    assert list(rows) == list(explore.DEMO_CLASS_QUERIES) and res["k"] == 10
    for c in CLASSES:  # the classes this synthetic sky has are found
        assert rows[c]["precision_at_10"] >= 0.8 and rows[c]["match"], rows[c]
    assert res["threshold_split"] == "val"
    null = np.array(list(res["null_best_scores"].values()))
    assert len(null) == res["n_null_queries"] and res["null_match_rate"] == pytest.approx(np.mean(null >= res["threshold"]))
    row = explore.search_table_row({**res, "model": "m"})
    assert row["model"] == "m" and row["p10_globular"] == rows["globular"]["precision_at_10"]
    assert row["threshold"] == res["threshold"] and row["p10_mean"] == res["mean_precision_at_10"]
    json.dumps(res)
    no_gt = explore.search_evaluation(bow, bow.tokenizer, (val_img, val_ids), (img, ids), None, ["{}"],
                                      ["a", "b c"], ["x", "y"])
    assert no_gt["mean_precision_at_10"] is None and no_gt["queries"][0]["precision_at_10"] is None
