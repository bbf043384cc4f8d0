"""Text queries against an image index: routing a short query through the training abstracts it shares words
with (:class:`Anchors`), prompt templates (:func:`encode_queries`), and the "no good match" threshold.

A model trained on proposal abstracts ranks images well for an *abstract* (the register it was trained on) and
badly for a short query ("spiral galaxy" returned lenses on the demo, "the history of the roman empire" cleared
every calibrated threshold). So a query is matched by words (TF-IDF, stop words left out) against the
training abstracts -- the *anchors* -- and replaced by the mean embedding of its best ``n_anchors``
abstracts, which is then searched exactly over the image index (:func:`skytext.eval.search.topk`). The
query's best lexical match is its *match score*: a query that shares no informative word with any anchor
has nothing the model could know about, and below the threshold chosen on the val split
(:func:`choose_threshold`, the ``search_eval`` rule, :mod:`skytext.eval.search_quality`) it gets "no good
match". A query with no lexical match at all is ranked by its prompt-template embedding instead.

:class:`Calibration` (scores measured against background phrases, the previous method) is kept for
``skytext.eval.explore``; search no longer uses it.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skytext.core.logfilter import DropMessage
from skytext.core.vocab import read_lines
from skytext.eval.search import _as_matrix, _block, _spans, topk

VOCAB = Path(__file__).resolve().parents[4] / "resources" / "vocab"  # of the checkout this file is in
SEARCH = VOCAB.parent / "search"
TEMPLATES_FILE = VOCAB / "query_templates.txt"  # prompt templates for text queries
BACKGROUND_FILE = VOCAB / "descriptions.txt"  # the phrases a (legacy) calibrated score is measured against
STOP_WORDS_FILE = SEARCH / "stop_words.txt"  # words left out of the lexical match
TEXT_BATCH = 256  # texts a forward pass of the text tower (memory; results at float rounding only: each batch is
# encoded up to its longest text)
log = logging.getLogger(__name__)


def read_templates(path: str | os.PathLike) -> list[str]:
    """Prompt templates (one a line, ``{}`` where the query goes), checked."""
    templates = read_lines(path)
    for t in templates:
        if t.count("{}") != 1:
            raise ValueError(f"{path}: template {t!r} must contain {{}} exactly once")
    return templates


def plural(phrase: str) -> str:
    """The phrase with a naive English plural of its last word (galaxy -> galaxies, nebula -> nebulae,
    cluster -> clusters); unchanged when the last word is not plain lower-case letters or ends in s."""
    words = phrase.split()
    last = words[-1] if words else ""
    if not (last.isalpha() and last.islower()) or last.endswith("s"):
        return phrase
    if last.endswith("a"):
        last += "e"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "es" if last.endswith(("x", "ch", "sh")) else "s"
    return " ".join(words[:-1] + [last])


def query_texts(query: str, templates: Sequence[str] | None = None) -> list[str]:
    """Every text a query is embedded as: each template filled with the query and with its :func:`plural`
    (``templates=None``: just the query as typed)."""
    if templates is None:
        return [query]
    forms = dict.fromkeys([query.strip(), plural(query.strip())])
    return list(dict.fromkeys(t.format(f) for t in templates for f in forms))


def encode_text(model, tokenizer, texts: Sequence[str], device: str) -> np.ndarray:
    """L2-normalised float32 text embeddings ``[len(texts), d]`` (``TEXT_BATCH`` texts a forward pass, each
    batch's text tower cut after its last end-of-text token:
    :func:`skytext.align.models.trimmed_text_features`)."""
    out = []
    with torch.inference_mode():
        for s in range(0, len(texts), TEXT_BATCH):
            feats = model.encode_text(tokenizer(list(texts[s : s + TEXT_BATCH])).to(device), trim=True).float()
            out.append((feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)).cpu().numpy())
    return np.concatenate(out)


def encode_queries(model, tokenizer, queries: Sequence[str], templates: Sequence[str] | None, device: str) -> np.ndarray:
    """Prompt ensembling as in CLIP: each query is the normalised mean of the normalised embeddings of its
    :func:`query_texts` (``templates=None``: the query as typed). float32 ``[len(queries), d]``."""
    texts = [query_texts(q, templates) for q in queries]
    emb = encode_text(model, tokenizer, [t for ts in texts for t in ts], device)
    ends = np.cumsum([len(ts) for ts in texts])
    means = np.stack([emb[e - len(ts) : e].mean(axis=0) for ts, e in zip(texts, ends)])
    return (means / np.linalg.norm(means, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------------------------- anchors
_WORD = re.compile(r"[a-z]+")


def stem(word: str) -> str:
    """A crude English stem: galaxies -> galaxy, nebulae -> nebula, lenses -> lens, clusters -> cluster (words
    of more than 4 letters only: arms, arcs, gas stay as they are)."""
    for suffix, repl in (("ies", "y"), ("ae", "a"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) > 4:
            return word[: -len(suffix)] + repl
    return word


def terms(text: str, stop_words: frozenset[str]) -> list[str]:
    """The lexical terms of a text: lower-case letter runs, stemmed, stop words left out."""
    return [t for t in (stem(w) for w in _WORD.findall(text.lower())) if t not in stop_words]


def read_stop_words(path: str | os.PathLike) -> frozenset[str]:
    """The stop words of a word list file (one a line)."""
    return frozenset(w.lower() for w in read_lines(path))


class LexicalIndex:
    """TF-IDF over a list of documents: ``(1 + ln tf) * idf`` with ``idf = ln((1 + n) / (1 + df)) + 1``, rows
    L2-normalised. A query term no document has still counts in the query's norm (with the idf of an unseen
    term), so a query is matched by the share of its words the documents know."""

    def __init__(self, documents: Sequence[str], stop_words: frozenset[str]):
        self.stop_words = stop_words
        counts = [Counter(terms(d, stop_words)) for d in documents]
        vocab = sorted({t for c in counts for t in c})
        self.vocab = {t: j for j, t in enumerate(vocab)}
        n = len(documents)
        df = np.bincount([self.vocab[t] for c in counts for t in c], minlength=len(vocab))
        self.idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        self.unseen_idf = float(np.log(1.0 + n) + 1.0)
        # sparse by term (CSC): doc ids and weights of each term's postings, so memory is the text's size
        doc = np.array([i for i, c in enumerate(counts) for _ in c], dtype=np.int64)
        col = np.array([self.vocab[t] for c in counts for t in c], dtype=np.int64)
        w = np.array([(1.0 + np.log(k)) * self.idf[self.vocab[t]] for c in counts for t, k in c.items()])
        norms = np.sqrt(np.bincount(doc, weights=w**2, minlength=n)).clip(1e-12)
        order = np.argsort(col, kind="stable")
        self.n_docs, self.post_doc, self.post_w = n, doc[order], (w / norms[doc])[order]
        self.post_start = np.searchsorted(col[order], np.arange(len(vocab) + 1))

    def query_terms(self, text: str) -> dict[int, float]:
        """The L2-normalised TF-IDF weights of a query's known terms (term id -> weight); unknown terms count
        in the norm only."""
        known, unknown = {}, 0.0
        for t, k in Counter(terms(text, self.stop_words)).items():
            w = 1.0 + np.log(k)
            if t in self.vocab:
                known[self.vocab[t]] = w * self.idf[self.vocab[t]]
            else:
                unknown += (w * self.unseen_idf) ** 2
        norm = np.sqrt(sum(v * v for v in known.values()) + unknown)
        return {j: v / norm for j, v in known.items()}

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Cosine of each query's TF-IDF vector with each document's: float32 ``[len(queries), n_documents]``."""
        out = np.zeros((len(queries), self.n_docs), dtype=np.float64)
        for i, q in enumerate(queries):
            for j, v in self.query_terms(q).items():
                s0, s1 = self.post_start[j], self.post_start[j + 1]
                out[i, self.post_doc[s0:s1]] += v * self.post_w[s0:s1]
        return out.astype(np.float32)


@dataclass
class Anchors:
    """Texts the model was trained on (the training split's captions) with their embeddings: a short query
    is routed through the ``n_anchors`` texts it best matches by words (:meth:`route`)."""

    lexical: LexicalIndex
    embeddings: np.ndarray  # [n, d] L2-normalised text embeddings of the anchor texts

    @classmethod
    def build(cls, model, tokenizer, texts: Sequence[str], stop_words: frozenset[str], device: str) -> "Anchors":
        """Anchors from texts: their TF-IDF index and their embeddings by the model's text tower."""
        if not texts:
            raise ValueError("anchors need at least one text (the training captions)")
        return cls(LexicalIndex(texts, stop_words), encode_text(model, tokenizer, list(texts), device))

    def route(self, queries: Sequence[str], fallback: np.ndarray, n_anchors: int) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings [nq, d], match scores [nq])``: each query as the normalised mean embedding of its
        ``n_anchors`` best-matching anchors (ties: the earlier anchor) and its best lexical score; a query
        that matches no anchor (score 0) keeps its ``fallback`` row (e.g. :func:`encode_queries`)."""
        lex = self.lexical.scores(queries)
        best = lex.max(axis=1) if lex.shape[1] else np.zeros(len(queries), dtype=np.float32)
        top = np.argsort(-lex, axis=1, kind="stable")[:, :n_anchors]
        out = np.array(fallback, dtype=np.float32, copy=True)
        for i, rows in enumerate(top):
            if best[i] > 0:
                m = self.embeddings[rows].mean(axis=0)
                out[i] = m / max(float(np.linalg.norm(m)), 1e-12)
        return out, best.astype(np.float64)


# ----------------------------------------------------------------------------------------------- calibration
@dataclass
class Calibration:
    """A score on a common scale for every query and image, measured against background phrases.

    The calibrated score of query ``q`` on image ``x`` is ``z = (q.x - mean_b(b.x)) / std_b(b.x)`` over the
    background phrases ``b``: how far the query beats the typical phrase *on that image*, in that image's
    standard deviations. Raw cosines of a CLIP-style model share a large offset (every text is close to
    every image, nonsense included) and some images score high for everything; the background removes both.
    ``z`` is an inner product of ``q - mean`` with the image scaled by ``1 / std``, so it is searched
    exactly by :func:`topk` with ``key_weights``.
    """

    mean: np.ndarray  # [d] mean background embedding
    centred: np.ndarray  # [B, d] background embeddings minus the mean

    @classmethod
    def from_embeddings(cls, background: np.ndarray) -> "Calibration":
        """A calibration against the embeddings of background phrases ``[B, d]``."""
        b = _as_matrix("background", background).astype(np.float32)
        if len(b) < 2:
            raise ValueError("a calibration needs at least 2 background phrases")
        return cls(mean=b.mean(axis=0), centred=b - b.mean(axis=0))

    def key_scales(self, keys, chunk_size: int, device: str) -> np.ndarray:
        """``1 / std_b(b.x)`` of every key ``x``: float32 ``[nk]``, a chunk of keys at a time."""
        kk = _as_matrix("keys", keys)
        dev = torch.device(device)
        c = torch.from_numpy(self.centred).to(dev)
        out = np.empty(kk.shape[0], dtype=np.float32)
        with torch.inference_mode():
            for k0, k1 in _spans(kk.shape[0], chunk_size):
                s = c @ _block("keys", kk, k0, k1, dev, False).T
                out[k0:k1] = (1.0 / s.square().mean(dim=0).sqrt().clamp_min(1e-6)).cpu().numpy()
        return out

    def search(self, queries: np.ndarray, keys, k: int, chunk_size: int, device: str, scales: np.ndarray | None = None,
               **kw):
        """``(scores, indices, cosines)`` of the ``k`` best keys of each query by calibrated score."""
        q = _as_matrix("queries", queries).astype(np.float32)
        scales = self.key_scales(keys, chunk_size, device) if scales is None else scales
        z, idx = topk(q - self.mean, keys, k, chunk_size, device, key_weights=scales, **kw)
        hits = np.asarray(keys[np.unique(idx)], dtype=np.float32)  # each hit read once (memory maps too)
        pos = np.searchsorted(np.unique(idx), idx)
        return z, idx, np.einsum("qd,qkd->qk", q, hits[pos])


def choose_threshold(positive, null) -> float:
    """The score cut that best separates in-domain queries' best scores from off-topic ones' (``null``).

    Maximises Youden's J (fraction of ``positive`` at or above the cut minus fraction of ``null``) over the
    midpoints between consecutive distinct scores; among equal J the highest cut (fewest false matches).
    """
    pos, neg = np.asarray(positive, dtype=np.float64).ravel(), np.asarray(null, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("choosing a threshold needs positive and null scores")
    v = np.unique(np.concatenate([pos, neg]))
    cuts = np.concatenate([[v[0] - 1.0], (v[1:] + v[:-1]) / 2, [v[-1] + 1.0]])
    j = (pos[:, None] >= cuts).mean(axis=0) - (neg[:, None] >= cuts).mean(axis=0)
    return float(cuts[np.flatnonzero(j == j.max())[-1]])


# ----------------------------------------------------------------------------------------------- evaluation
def read_class_queries(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(class, query)`` pairs of a class-query file: ``<class>: <query>`` lines."""
    pairs = []
    for line in read_lines(path):
        cls, sep, query = line.partition(":")
        if not sep or not cls.strip() or not query.strip():
            raise ValueError(f"{path}: {line!r} is not '<class>: <query>'")
        pairs.append((cls.strip(), query.strip()))
    return pairs


def _precision(idx: np.ndarray, true: np.ndarray | None, classes: Sequence[str]) -> list[float | None]:
    """Fraction of each row of hit indices whose true class is that row's class (``None`` without truth)."""
    return [None if true is None else float(np.mean(true[i] == c)) for i, c in zip(idx, classes)]


def _threshold(class_scores: np.ndarray, found: np.ndarray, offtopic_scores: np.ndarray) -> float:
    """:func:`choose_threshold` between the class queries found on val and the off-topic ones; between all
    class queries and the off-topic ones when none was found (a weak model: its verdicts mean little)."""
    return choose_threshold(class_scores[found] if found.any() else class_scores, offtopic_scores)


def search_evaluation(model, tokenizer, val: tuple, test: tuple, class_queries: Sequence[tuple[str, str]],
                      offtopic: Sequence[str], anchor_texts: Sequence[str], templates: Sequence[str],
                      stop_words: frozenset[str], *, k: int, n_anchors: int, min_precision: float,
                      device: str, chunk_size: int) -> dict:
    """Search quality of one model on held-out queries: precision@``k`` of each class query and the "no good
    match" verdict of every query, the threshold chosen on ``val``, everything reported on ``test``.

    ``val``/``test``: ``(image embeddings [n, d], true class per row or None)``. The threshold separates the
    match scores of the class queries found on val (precision >= ``min_precision``; all of them without
    truth or when none is found) from the off-topic ones' (:func:`choose_threshold`). As a check that does not reuse queries,
    ``held_out_queries`` chooses it on every other query and reports the remaining half on test.
    """
    texts = [q for _, q in class_queries] + list(offtopic)
    classes, nc = [c for c, _ in class_queries], len(class_queries)
    anchors = Anchors.build(model, tokenizer, anchor_texts, stop_words, device)
    plain = encode_queries(model, tokenizer, texts, templates, device)
    q, match = anchors.route(texts, plain, n_anchors)

    def _ranked(emb, split):
        return topk(emb[:nc], split[0], k, chunk_size, device)[1]

    idx_val, idx, idx_plain = _ranked(q, val), _ranked(q, test), _ranked(plain, test)
    p_val, p = _precision(idx_val, val[1], classes), _precision(idx, test[1], classes)
    found_val = np.array([True if v is None else v >= min_precision for v in p_val])
    threshold = _threshold(match[:nc], found_val, match[nc:])
    half = np.arange(len(texts)) % 2 == 0
    t_half = _threshold(match[:nc][half[:nc]], found_val[half[:nc]], match[nc:][half[nc:]])
    rows = [{"kind": "class", "class": c, "query": t, "match_score": float(match[j]), "match": bool(match[j] >= threshold),
             "precision_at_k": p[j], "precision_at_k_val": p_val[j],
             "precision_at_k_templates": _precision(idx_plain[j : j + 1], test[1], [c])[0],
             "hits": idx[j].tolist(), "hit_classes": None if test[1] is None else test[1][idx[j]].tolist()}
            for j, (c, t) in enumerate(class_queries)]  # fmt: skip
    rows += [{"kind": "offtopic", "query": t, "match_score": float(match[nc + j]), "match": bool(match[nc + j] >= threshold)}
             for j, t in enumerate(offtopic)]  # fmt: skip
    return {"k": k, "n_anchors": n_anchors, "min_precision": min_precision, "match_threshold": threshold,
            "threshold_split": "val", "n_found_val": int(found_val.sum()), "match_score": "lexical (TF-IDF cosine with the best training caption)",
            "queries": rows, **acceptance_rates(rows, min_precision),
            "held_out_queries": {"match_threshold": t_half, **acceptance_rates(
                [dict(r, match=r["match_score"] >= t_half) for r, h in zip(rows, half) if not h], min_precision)},
            "n_anchors_texts": len(anchor_texts), "templates": list(templates)}


def acceptance_rates(rows: Sequence[dict], min_precision: float) -> dict:
    """``class_accept_rate`` (class queries matched), ``class_found_rate`` (matched with precision >=
    ``min_precision``; ``None`` without truth), ``offtopic_reject_rate`` and the mean precision, from rows."""
    cls = [r for r in rows if r["kind"] == "class"]
    off = [r for r in rows if r["kind"] == "offtopic"]
    truth = all(r["precision_at_k"] is not None for r in cls)
    mean = lambda xs: float(np.mean(xs)) if len(xs) else None  # noqa: E731
    return {"n_class": len(cls), "n_offtopic": len(off),
            "class_accept_rate": mean([r["match"] for r in cls]),
            "class_found_rate": mean([r["match"] and r["precision_at_k"] >= min_precision for r in cls]) if truth else None,
            "offtopic_reject_rate": mean([not r["match"] for r in off]),
            "mean_precision_at_k": mean([r["precision_at_k"] for r in cls]) if truth else None}


def search_table_row(result: dict) -> dict:
    """One CSV row per model for the comparison table: mean precision@k per class (its held-out queries) and
    over all, with the template-only ranking beside it, the threshold and the acceptance rates."""
    row, p = {"model": result.get("model")}, f"p{result['k']}"
    cls = [r for r in result["queries"] if r["kind"] == "class"]
    for c in dict.fromkeys(r["class"] for r in cls):
        vals = [r["precision_at_k"] for r in cls if r["class"] == c]
        row[f"{p}_{c}"] = None if None in vals else float(np.mean(vals))
    tmpl = [r["precision_at_k_templates"] for r in cls]
    row.update({f"{p}_mean": result["mean_precision_at_k"],
                f"{p}_mean_templates": None if None in tmpl else float(np.mean(tmpl))})
    row.update(match_threshold=result["match_threshold"], class_accept_rate=result["class_accept_rate"],
               class_found_rate=result["class_found_rate"], offtopic_reject_rate=result["offtopic_reject_rate"])
    return row


# ----------------------------------------------------------------------------------------------- models
def load_model(model_json: str | Path, device: str):
    """``(model, tokenizer, preprocess)`` for a ``model.json``: :func:`skytext.align.models.load_for_inference`.

    open_clip's "Model initialized randomly" (logged while the architecture is built, before the weights
    of ``model.json`` are loaded into it) is silenced when there are weights; an untrained spec says so.
    Imported lazily: it is this module's only coupling to how models are built and stored.
    """
    from skytext.align.models import ModelSpec, load_for_inference

    spec = ModelSpec.from_json(model_json)
    trained = bool(spec.weights or spec.pretrained)
    quiet, root = DropMessage("initialized randomly"), logging.getLogger()  # (logged before our weights load)
    root.addFilter(quiet)
    try:
        out = load_for_inference(str(model_json), device=device)
    finally:
        root.removeFilter(quiet)
    if trained:
        log.info("loaded %s (weights %s)", model_json, spec.weights or spec.pretrained)
    else:
        log.warning("%s has no trained weights (an untrained base model): its scores mean nothing", model_json)
    return out


def read_index(index: str | Path) -> tuple[np.ndarray, pd.DataFrame]:
    """``(images.npy memory-mapped, images.parquet)`` of an index folder, checked to be row-aligned."""
    import pandas as pd

    index = Path(index)
    emb = np.load(index / "images.npy", mmap_mode="r")
    meta = pd.read_parquet(index / "images.parquet")
    if len(meta) != emb.shape[0]:
        raise ValueError(f"{index}: images.parquet has {len(meta)} rows but images.npy has {emb.shape[0]}")
    return emb, meta
