"""Search quality (issue #22 item 7): a query routed through the training abstracts it shares words with, the
"no good match" verdict from its lexical match score, the held-out query sets, and the search evaluation with
both acceptance rates recomputed here. The model is a fake with the demo model's failures: short queries land
in the wrong place ("spiral galaxy" near lenses) and unseen words anywhere (here near planets), while whole
abstracts -- what it was trained on -- land near their class."""

from __future__ import annotations

import json
import math
import re
import zlib

import numpy as np
import pytest
import torch

from skytext.core.vocab import read_lines
from skytext.eval.query import (Anchors, Calibration, LexicalIndex, acceptance_rates, choose_threshold,
                                encode_queries, plural, query_texts, read_class_queries, read_stop_words,
                                read_templates, search_evaluation, search_table_row, stem, terms)
from functools import partial

from skytext.eval import search as _search
topk = partial(_search.topk, device="cpu")  # the CPU, as every test here
from skytext.sources.sky_demo import CLASSES as DEMO_CLASSES

from conftest import ROOT

VOCAB, SEARCH = ROOT / "resources" / "vocab", ROOT / "resources" / "search"
D = 64
STOP = read_stop_words(SEARCH / "stop_words.txt")
CLASS_WORDS = {"spiral": ["spiral", "arms", "barred", "wound", "disk"], "lens": ["lensed", "arcs", "einstein", "ring"],
               "planet": ["planet", "banded", "cloud", "belts", "giant"], "globular": ["globular", "cluster", "core", "old"]}


class WordModel:
    """A text tower of word vectors averaged: class words point at their class, "galaxy" at the lenses (lens
    abstracts say it most, as on the demo), proposal boilerplate at a shared direction, and any word it was never
    trained on near the planets (where the demo model put "ionised hydrogen gas cloud")."""

    def __init__(self, seed: int = 0):
        g = np.random.default_rng(seed)
        basis = np.linalg.qr(g.standard_normal((D, D)))[0].T
        self.dirs = {c: basis[i] for i, c in enumerate(CLASS_WORDS)}
        self.generic, self.ids = basis[len(CLASS_WORDS)], {}
        self.vectors = {w: self.dirs[c] + 0.1 * g.standard_normal(D) for c, ws in CLASS_WORDS.items() for w in ws}
        self.vectors["galaxy"] = self.vectors["galaxies"] = 2.0 * self.dirs["lens"]

    def word(self, w: str) -> np.ndarray:
        if w not in self.vectors:
            h = np.random.default_rng(zlib.crc32(w.encode())).standard_normal(D)
            known = w in BOILERPLATE
            self.vectors[w] = (self.generic if known else 0.8 * self.dirs["planet"]) + 0.3 * h
        return self.vectors[w]

    def tokenizer(self, texts):
        """Word ids padded with -1 (a tensor, as open_clip's tokenizers return)."""
        words = [re.findall(r"[a-z]+", t.lower()) or ["empty"] for t in texts]
        ids = [[self.ids.setdefault(w, len(self.ids)) for w in ws] for ws in words]
        out = torch.full((len(ids), max(map(len, ids))), -1, dtype=torch.long)
        for i, row in enumerate(ids):
            out[i, : len(row)] = torch.tensor(row)
        return out

    def encode_text(self, tokens, *, trim=False):  # (SkyClip's signature; nothing to trim here)
        words = {i: w for w, i in self.ids.items()}
        rows = [np.mean([self.word(words[int(i)]) for i in row if i >= 0], axis=0) for row in tokens]
        return torch.tensor(np.stack(rows), dtype=torch.float32)


BOILERPLATE = set("we propose to image a sample of this program targets our are with the and in its will obtain deep "
                  "observations hubble space telescope an category study".split())


def abstracts(per_class: int = 6) -> tuple[list[str], list[str]]:
    """Training abstracts (anchors) in the class words, as the demo's: (texts, classes)."""
    texts, classes = [], []
    for c, ws in CLASS_WORDS.items():
        for i in range(per_class):
            words = " ".join(ws[(i + j) % len(ws)] for j in range(4))
            extra = " around massive galaxies" if c == "lens" else (" galaxies" if c == "spiral" and i % 3 == 0 else "")
            texts.append(f"Category: study. We propose to image {words}{extra}. Our targets are {words} {ws[i % len(ws)]}.")
            classes.append(c)
    return texts, classes


def sky(model: WordModel, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Image embeddings near their class direction: (embeddings, true class per row)."""
    g = np.random.default_rng(seed)
    x = np.concatenate([model.dirs[c] + 0.25 * g.standard_normal((per_class, D)) for c in CLASS_WORDS])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.repeat(list(CLASS_WORDS), per_class)


CLASS_QUERIES = [("spiral", "spiral galaxy"), ("spiral", "barred spiral"), ("lens", "einstein ring"),
                 ("lens", "lensed arcs"), ("planet", "banded planet"), ("globular", "old globular cluster")]
OFFTOPIC = ["the history of the roman empire", "stock market crash 1929", "banana bread recipe", "tax return"]


@pytest.fixture(scope="module")
def world():
    m = WordModel()
    return m, sky(m, 12, 1), sky(m, 12, 2)


def evaluate(world, **kw):
    m, val, test = world
    args = dict(k=10, n_anchors=3, min_precision=0.6, device="cpu", chunk_size=16)
    return search_evaluation(m, m.tokenizer, val, test, CLASS_QUERIES, OFFTOPIC, abstracts()[0],
                             read_templates(VOCAB / "query_templates.txt"), STOP, **{**args, **kw})


# ----------------------------------------------------------------------------------------------- the failure
def test_todays_calibration_fails_where_routing_through_abstracts_works(world):
    """Today's search (prompt templates, z against background phrases, threshold chosen on val against the
    null queries) ranks lenses for "spiral galaxy" and cannot both accept the class queries with the right
    images and reject the off-topic ones; routing through the abstracts does both."""
    m, val, test = world
    templates = read_templates(VOCAB / "query_templates.txt")
    enc = lambda qs: encode_queries(m, m.tokenizer, qs, templates, "cpu")  # noqa: E731
    cal = Calibration.from_embeddings(enc(read_lines(VOCAB / "descriptions.txt")))
    best = lambda q, x: cal.search(q, x, 1, 16, "cpu")[0][:, 0]  # noqa: E731
    cq = enc([q for _, q in CLASS_QUERIES])
    old_threshold = choose_threshold(best(cq, val[0]), best(enc(read_lines(VOCAB / "null_queries.txt")), val[0]))
    z, idx, _ = cal.search(cq, test[0], 10, 16, "cpu")
    old_found = [(z[j, 0] >= old_threshold) and (test[1][idx[j]] == c).mean() >= 0.6 for j, (c, _) in enumerate(CLASS_QUERIES)]
    old_rejected = best(enc(OFFTOPIC), test[0]) < old_threshold
    assert (test[1][idx[0]] == "lens").mean() >= 0.5  # today: "spiral galaxy" returns mostly lenses
    assert not (all(old_found) and all(old_rejected))

    res = evaluate(world)
    rows = {r["query"]: r for r in res["queries"]}
    assert rows["spiral galaxy"]["precision_at_k"] >= 0.6 and rows["spiral galaxy"]["match"]
    assert rows["spiral galaxy"]["precision_at_k_templates"] <= 0.5
    assert not any(rows[q]["match"] for q in OFFTOPIC)
    assert res["class_found_rate"] == 1.0 and res["offtopic_reject_rate"] == 1.0


# ----------------------------------------------------------------------------------------------- the evaluation
def test_acceptance_rates_and_precision_recomputed_independently(world):
    m, val, test = world
    res = evaluate(world, min_precision=0.9)
    json.dumps(res)
    cls = [r for r in res["queries"] if r["kind"] == "class"]
    off = [r for r in res["queries"] if r["kind"] == "offtopic"]
    assert [r["query"] for r in cls] == [q for _, q in CLASS_QUERIES] and [r["query"] for r in off] == OFFTOPIC
    for r in res["queries"]:  # the verdict is the threshold applied to the match score
        assert r["match"] == (r["match_score"] >= res["match_threshold"])
    for r in cls:  # precision from the hits' true classes
        assert r["precision_at_k"] == sum(c == r["class"] for c in r["hit_classes"]) / 10 and len(r["hits"]) == 10
        assert r["hit_classes"] == test[1][r["hits"]].tolist()
    assert res["class_accept_rate"] == sum(r["match"] for r in cls) / len(cls)
    assert res["class_found_rate"] == sum(r["match"] and r["precision_at_k"] >= 0.9 for r in cls) / len(cls)
    assert res["offtopic_reject_rate"] == sum(not r["match"] for r in off) / len(off)
    assert res["mean_precision_at_k"] == pytest.approx(np.mean([r["precision_at_k"] for r in cls]))
    # the threshold: a cut of best Youden J between val-found class queries and off-topic ones, by brute force
    pos = [r["match_score"] for r in cls if r["precision_at_k_val"] >= 0.9]
    neg = [r["match_score"] for r in off]
    j = lambda t: np.mean([p >= t for p in pos]) - np.mean([n >= t for n in neg])  # noqa: E731
    cuts = sorted(set(pos + neg))
    assert j(res["match_threshold"]) == max(j(t) for t in cuts + [cuts[-1] + 1])
    row = search_table_row({**res, "model": "m"})
    assert row["model"] == "m" and row["class_found_rate"] == res["class_found_rate"]
    assert row["p10_spiral"] == pytest.approx(np.mean([r["precision_at_k"] for r in cls if r["class"] == "spiral"]))
    assert row["offtopic_reject_rate"] == res["offtopic_reject_rate"] and row["match_threshold"] == res["match_threshold"]


def test_threshold_falls_back_to_all_class_queries_when_none_is_found_on_val(world):
    """A weak model (base, shuffled) finds no class query on val: the threshold still separates the class
    queries from the off-topic ones instead of failing the rule."""
    res = evaluate(world, min_precision=1.01)
    assert res["n_found_val"] == 0 and res["class_found_rate"] == 0.0
    cls = [r["match_score"] for r in res["queries"] if r["kind"] == "class"]
    off = [r["match_score"] for r in res["queries"] if r["kind"] == "offtopic"]
    assert res["match_threshold"] == choose_threshold(cls, off)


def test_acceptance_rates_by_hand():
    rows = [{"kind": "class", "match": True, "precision_at_k": 0.6}, {"kind": "class", "match": True, "precision_at_k": 0.5},
            {"kind": "class", "match": False, "precision_at_k": 1.0}, {"kind": "class", "match": True, "precision_at_k": 0.9},
            {"kind": "offtopic", "match": True}, {"kind": "offtopic", "match": False}, {"kind": "offtopic", "match": False}]
    got = acceptance_rates(rows, 0.6)
    assert got["class_accept_rate"] == 0.75 and got["class_found_rate"] == 0.5
    assert got["offtopic_reject_rate"] == pytest.approx(2 / 3) and got["n_class"] == 4 and got["n_offtopic"] == 3
    assert acceptance_rates([dict(r, precision_at_k=None) if r["kind"] == "class" else r for r in rows], 0.6)["class_found_rate"] is None


def test_evaluation_without_ground_truth(world):
    m, val, test = world
    res = search_evaluation(m, m.tokenizer, (val[0], None), (test[0], None), CLASS_QUERIES, OFFTOPIC, abstracts()[0],
                            ["{}"], STOP, k=5, n_anchors=2, min_precision=0.6, device="cpu", chunk_size=64)
    assert res["class_found_rate"] is None and res["mean_precision_at_k"] is None and res["class_accept_rate"] is not None
    assert search_table_row(res)["p5_spiral"] is None


# ----------------------------------------------------------------------------------------------- lexical routing
def test_lexical_index_matches_tf_idf_by_hand():
    docs = ["Spiral galaxies with spiral arms.", "Lensed arcs around galaxies.", "The rings of a giant planet."]
    lex = LexicalIndex(docs, frozenset({"the", "of", "a", "with", "around"}))
    toks = [["spiral", "galaxy", "spiral", "arms"], ["lensed", "arcs", "galaxy"], ["ring", "giant", "planet"]]
    assert [terms(d, lex.stop_words) for d in docs] == toks
    vocab = sorted({t for d in toks for t in d})
    idf = {t: math.log(4 / (1 + sum(t in d for d in toks))) + 1 for t in vocab}
    def vec(ws, extra=0.0):
        v = np.array([(1 + math.log(ws.count(t))) * idf[t] if t in ws else 0.0 for t in vocab])
        return v / math.sqrt((v**2).sum() + extra)

    dv = [vec(d) for d in toks]
    q = vec(["spiral", "galaxy"], extra=(math.log(4) + 1) ** 2)  # "roman" is unknown: it counts in the norm only
    want = [sum(a * b for a, b in zip(q, d)) for d in dv]
    np.testing.assert_allclose(lex.scores(["the Roman spiral galaxy"])[0], want, rtol=1e-5)
    assert lex.scores(["banana bread"]).max() == 0.0


def test_stem_and_terms():
    assert [stem(w) for w in ["galaxies", "nebulae", "lenses", "arms", "clusters", "gas", "arcs"]] == \
        ["galaxy", "nebula", "lens", "arms", "cluster", "gas", "arcs"]  # 4 letters or fewer: left alone
    assert terms("The history of the Roman Empire!", STOP) == ["history", "roman", "empire"]


def test_route_takes_the_mean_of_the_best_anchors_and_falls_back():
    m = WordModel()
    texts, _ = abstracts()
    anchors = Anchors.build(m, m.tokenizer, texts, STOP, "cpu")
    fallback = np.full((2, D), 1 / math.sqrt(D), dtype=np.float32)
    q, score = anchors.route(["barred spiral", "banana bread"], fallback, 3)
    lex = anchors.lexical.scores(["barred spiral"])[0]
    best3 = np.argsort(-lex, kind="stable")[:3]
    want = anchors.embeddings[best3].mean(0)
    np.testing.assert_allclose(q[0], want / np.linalg.norm(want), atol=1e-6)
    np.testing.assert_array_equal(q[1], fallback[1])  # no word in common: the fallback row, score 0
    assert score[0] == pytest.approx(lex.max()) and score[1] == 0.0


# ----------------------------------------------------------------------------------------------- query sets
def test_held_out_query_sets():
    pairs = read_class_queries(SEARCH / "class_queries.txt")
    off = read_lines(SEARCH / "offtopic_queries.txt")
    assert len(pairs) >= 40 and len(off) >= 40
    assert {c for c, _ in pairs} == set(DEMO_CLASSES)  # every demo class, nothing else
    templates = read_templates(VOCAB / "query_templates.txt")
    stems = {t.replace("{}", "").strip(" .").lower() for t in templates}
    for _, q in pairs:  # phrased unlike the prompt templates
        assert not any(s and s in q.lower() for s in stems), q
    queries = {q.lower() for _, q in pairs} | {q.lower() for q in off}
    assert len(queries) == len(pairs) + len(off)
    assert "the history of the roman empire" in queries and "stock market crash 1929" in queries
    assert not queries & {w.lower() for w in read_lines(VOCAB / "null_queries.txt")} - {"the history of the roman empire"}


def test_read_class_queries_rejects_a_line_without_class(tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("spiral: barred spiral\nno class here\n")
    with pytest.raises(ValueError, match="no class here"):
        read_class_queries(f)


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


def test_encode_queries_is_the_mean_of_normalised_template_embeddings():
    m = WordModel()
    templates = ["an image of {}.", "This program targets {}."]
    got = encode_queries(m, m.tokenizer, ["globular cluster", "SN1987A"], templates, "cpu")
    for row, q in zip(got, ["globular cluster", "SN1987A"]):
        e = m.encode_text(m.tokenizer(query_texts(q, templates))).numpy()
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        want = e.mean(0) / np.linalg.norm(e.mean(0))
        np.testing.assert_allclose(row, want, atol=1e-6)


# ----------------------------------------------------------------------------------------------- legacy calibration
def test_calibrated_search_matches_brute_force():
    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    keys, bg, q = unit(rng.normal(size=(300, 16))), unit(rng.normal(size=(25, 16))), unit(rng.normal(size=(7, 16)))
    cal = Calibration.from_embeddings(bg)
    z, idx, cos = cal.search(q, keys, 9, 64, "cpu")
    sb = bg.astype(np.float64) @ keys.T.astype(np.float64)  # [B, n]
    brute = (q.astype(np.float64) @ keys.T - sb.mean(0)) / sb.std(0)
    np.testing.assert_array_equal(idx, np.argsort(-brute, axis=1, kind="stable")[:, :9])
    np.testing.assert_allclose(z, np.take_along_axis(brute, idx, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cos, np.take_along_axis(q @ keys.T, idx, 1), atol=1e-5)
    np.testing.assert_allclose(cal.key_scales(keys, 7, "cpu"), 1 / sb.std(0), rtol=1e-4)


def test_topk_key_weights_match_brute_force():
    rng = np.random.default_rng(3)
    q, keys, w = rng.normal(size=(11, 8)).astype(np.float32), rng.normal(size=(90, 8)).astype(np.float32), rng.random(90)
    s, i = topk(q, keys, 5, chunk_size=4, key_chunk_size=13, key_weights=w)
    brute = (q.astype(np.float64) @ keys.T) * w
    np.testing.assert_array_equal(i, np.argsort(-brute, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(s, np.take_along_axis(brute, i, 1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="key_weights"):
        topk(q, keys, 5, 16, key_weights=w[:10])


def test_choose_threshold_maximises_separation():
    assert choose_threshold([3.0, 4.0, 5.0], [1.0, 2.0]) == pytest.approx(2.5)
    # one off-topic query scoring high costs less than losing two class queries
    t = choose_threshold([1.5, 2.4, 2.6, 3.0], [0.5, 1.0, 1.2, 2.5])
    assert 1.2 < t < 1.5
    with pytest.raises(ValueError):
        choose_threshold([], [1.0])
