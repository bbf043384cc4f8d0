"""Image search by text over an index folder of the image study, from Python or the command line.

Python (the web app, notebooks)::

    from skytext.search import Searcher
    searcher = Searcher.open("results/images/demo/embed/full-abstract/test", device="cpu", chunk_size=8192,
                             n_anchors=None)  # None: as the search_eval rule recorded it
    for df in searcher.search(["barred spiral galaxy", "banana bread recipe"], k=10):
        print(df.attrs["verdict"], df[["rank", "obs_id", "score"]])

Command line: ``python -m skytext.search "globular cluster" --index <index folder>`` (:mod:`skytext.search_cli`).
A query is routed through the training abstracts it shares words with (:class:`skytext.eval.query.Anchors`),
searched exactly (:func:`skytext.eval.search.topk`) and judged against the threshold that the ``search_eval``
rule chose on the val split (:func:`run_search_eval`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.core.smk import threads_for_torch
from skytext.core.vocab import read_lines
from skytext.eval.query import (STOP_WORDS_FILE, TEMPLATES_FILE, Anchors, encode_queries, load_model,
                                read_class_queries, read_index, read_stop_words, read_templates,
                                search_evaluation, search_table_row)
from skytext.eval.search import HeldKeys, topk

log = logging.getLogger(__name__)


def find_results_root(index: str | Path) -> Path | None:
    """The results folder of an index (``<root>/embed/<model>/<split>``): the nearest parent holding
    ``dataset/proposals.parquet``, or ``None``."""
    for parent in list(Path(index).resolve().parents)[:4]:
        if (parent / "dataset" / "proposals.parquet").exists():
            return parent
    return None


def anchor_texts(captions: str | Path, proposals: str | Path, split: str) -> list[str]:
    """The captions (``text`` column of ``captions/<caption>.parquet``) of the ``split`` proposals."""
    caps, props = pd.read_parquet(captions), pd.read_parquet(proposals)
    keep = set(props.loc[props["split"] == split, "proposal_id"].astype(str))
    return caps.loc[caps["proposal_id"].astype(str).isin(keep), "text"].astype(str).tolist()


def default_anchors(index: str | Path) -> list[str] | None:
    """The training captions of an index's model, found from the index folder (``None`` when there are none):
    ``<root>/captions/<caption>.parquet``, the caption type being the model's (``model.json``, else the part of
    the model name after the mode; else the first caption file)."""
    root = find_results_root(index)
    if root is None:
        return None
    model, spec = Path(index).resolve().parent.name, Path(index) / "model.json"
    caption = json.loads(spec.read_text()).get("caption") if spec.exists() else None
    names = [caption] if caption else [model.split("-", 1)[1]] if "-" in model else []
    names += sorted(p.stem for p in (root / "captions").glob("*.parquet"))
    for name in names:
        path = root / "captions" / f"{name}.parquet"
        if path.exists():
            return anchor_texts(path, root / "dataset" / "proposals.parquet", "train")
    return None


def evaluation_of(index: str | Path) -> dict:
    """The search_eval record of an index's model (``<root>/eval/search/<model>.json``; ``{}`` when not run):
    its ``match_threshold`` (on the lexical match score) and the ``n_anchors`` it was chosen with."""
    root = find_results_root(index)
    path = None if root is None else root / "eval" / "search" / f"{Path(index).resolve().parent.name}.json"
    return json.loads(path.read_text()) if path is not None and path.exists() else {}


class CheckedKeys(HeldKeys):
    """An index's keys for a server answering many queries: float32 (a float32 memory map stays a map, another
    dtype is converted once in RAM), checked finite once. :func:`skytext.eval.search.topk` then searches them
    without re-reading every key on every query to check it (:class:`skytext.eval.search.HeldKeys`)."""

    def __init__(self, keys):
        arr = np.ascontiguousarray(keys, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise ValueError(f"keys must be a non-empty 2-D array, got shape {arr.shape}")
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise ValueError(f"keys row {int(np.flatnonzero(bad)[0])} has a non-finite value")
        self.array = arr  # (a float32 memory map stays one: no second copy)


class Searcher:
    """A model, an image index and its anchors, loaded once; :meth:`search` answers text queries."""

    def __init__(self, model, tokenizer, keys: np.ndarray, meta: pd.DataFrame, anchors: Anchors | None,
                 templates: Sequence[str] | None, *, n_anchors: int, threshold: float | None, device: str, chunk_size: int):
        self.model, self.tokenizer, self.keys, self.meta, self.anchors = model, tokenizer, keys, meta, anchors
        self.templates, self.n_anchors, self.threshold = templates, n_anchors, threshold
        self.device, self.chunk_size = device, chunk_size

    @classmethod
    def open(cls, index: str | Path, *, device: str, chunk_size: int, model_json: str | Path | None = None,
             n_anchors: int | None, anchors: Sequence[str] | None = None, threshold: float | None = None,
             templates: str | Path | None = TEMPLATES_FILE, stop_words: str | Path = STOP_WORDS_FILE) -> "Searcher":
        """Load an index folder (``images.npy``, ``images.parquet``, ``model.json``).

        ``anchors``: texts to route queries through (``None``: the model's training captions,
        :func:`default_anchors`; none found: queries are ranked by their prompt templates, with no verdict).
        ``threshold`` and ``n_anchors`` (``None``: as recorded by the search_eval rule, :func:`evaluation_of`;
        without a record there is no threshold, and ``n_anchors`` must be given). ``chunk_size``: key rows
        per block of the exact search (memory only). ``templates=None``: queries are embedded as typed.
        """
        record = evaluation_of(index)
        texts = default_anchors(index) if anchors is None else list(anchors)
        n_anchors = record.get("n_anchors", None if texts else 1) if n_anchors is None else n_anchors
        if n_anchors is None:
            raise ValueError(f"{index}: no search_eval record for this model: pass n_anchors")
        keys, meta = read_index(index)
        model, tokenizer, _ = load_model(model_json or Path(index) / "model.json", device)
        built = Anchors.build(model, tokenizer, texts, read_stop_words(stop_words), device) if texts else None
        if built is None and anchors is None:
            log.warning("%s: no training captions found to route queries through: no match verdict", index)
        thr = record.get("match_threshold") if threshold is None else threshold
        tmpl = None if templates is None else read_templates(templates)
        return cls(model, tokenizer, keys, meta, built, tmpl, n_anchors=int(n_anchors),
                   threshold=thr if built is not None else None, device=device, chunk_size=chunk_size)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(query embeddings [n, d], match scores [n] or None without anchors)`` for texts. A query that
        matches an anchor is its anchors' mean embedding, so its templates are encoded only when some query
        matches none (the result is the same, to float rounding; the text tower runs only when its output is used)."""
        texts = list(texts)
        if self.anchors is None:
            return encode_queries(self.model, self.tokenizer, texts, self.templates, self.device), None
        lex = self.anchors.lexical.scores(texts)
        unmatched = [i for i, row in enumerate(lex) if not (row.size and row.max() > 0)]
        plain = np.zeros((len(texts), self.anchors.embeddings.shape[1]), dtype=np.float32)
        if unmatched:
            plain[unmatched] = encode_queries(self.model, self.tokenizer, [texts[i] for i in unmatched],
                                              self.templates, self.device)
        return self.anchors.route(texts, plain, self.n_anchors)

    def check_keys(self) -> None:
        """Hold the keys in RAM, checked once (:class:`CheckedKeys`), for many searches (the web app)."""
        if not isinstance(self.keys, CheckedKeys):
            self.keys = CheckedKeys(self.keys)

    def search(self, texts: Sequence[str], k: int) -> list[pd.DataFrame]:
        """Top-``k`` rows per text: DataFrames with rank, obs_id, proposal_id, score (cosine), path; each with
        ``attrs`` match_score, threshold, match (``None`` when unknown) and a one-line verdict."""
        q, match = self.encode(texts)
        scores, idx = topk(q, self.keys, k, self.chunk_size, self.device)  # (held keys: checked once)
        out = []
        for j, (s, i) in enumerate(zip(scores, idx)):
            rows = self.meta.iloc[i]
            df = pd.DataFrame({"rank": np.arange(1, len(i) + 1), "obs_id": rows["obs_id"].to_numpy(),
                               "proposal_id": rows["proposal_id"].to_numpy() if "proposal_id" in rows else None,
                               "score": s, "path": rows["path"].to_numpy()})
            m = None if match is None else float(match[j])
            ok = None if m is None or self.threshold is None else m >= self.threshold
            df.attrs.update(match_score=m, threshold=self.threshold, match=ok, verdict=verdict(m, self.threshold))
            out.append(df)
        return out


def verdict(match_score: float | None, threshold: float | None) -> str:
    """One line on whether a query found anything."""
    if match_score is None:
        return "no training captions to match the query against: ranked by prompt templates, no verdict"
    if threshold is None:
        return f"match score {match_score:.3f}; no threshold known (pass --threshold, or run search_eval)"
    if match_score >= threshold:
        return f"match: match score {match_score:.3f} >= threshold {threshold:.3f}"
    return f"no good match: match score {match_score:.3f} < threshold {threshold:.3f} (the query shares too few words with the training abstracts)"


def search_index(index: str | Path, texts: Sequence[str], k: int, device: str, **kw) -> list[pd.DataFrame]:
    """One-off search: :meth:`Searcher.open` (``kw``: ``chunk_size``, ``n_anchors``, ...) then :meth:`Searcher.search`."""
    return Searcher.open(index, device=device, **kw).search(texts, k)


def _ids_classes(ids: str | os.PathLike, truth: dict | None) -> tuple[pd.DataFrame, np.ndarray | None]:
    meta = pd.read_parquet(ids)
    return meta, None if truth is None else meta["obs_id"].map(truth).to_numpy(dtype=object)


def run_search_eval(spec: str, val_images: str, val_image_ids: str, test_images: str, test_image_ids: str,
                    observations: str, captions: str, proposals: str, class_queries: str, offtopic_queries: str,
                    templates: str, stop_words: str, out_json: str, out_table: str, model: str, *, k: int,
                    n_anchors: int, min_precision: float, device: str, chunk_size: int, threads: int) -> dict:
    """The search_eval rule: :func:`skytext.eval.query.search_evaluation` of one model on the held-out query
    files, written as JSON (every query) and a one-row CSV (the comparison table's search columns)."""
    threads_for_torch(threads)
    obs = pd.read_parquet(observations)
    truth = dict(zip(obs["obs_id"], obs["gt_class"])) if "gt_class" in obs and obs["gt_class"].notna().any() else None
    (vmeta, vtrue), (tmeta, ttrue) = _ids_classes(val_image_ids, truth), _ids_classes(test_image_ids, truth)
    net, tokenizer, _ = load_model(spec, device)
    res = search_evaluation(net, tokenizer, (np.load(val_images).astype(np.float32), vtrue),
                            (np.load(test_images).astype(np.float32), ttrue), read_class_queries(class_queries),
                            read_lines(offtopic_queries), anchor_texts(captions, proposals, "train"), read_templates(templates),
                            read_stop_words(stop_words), k=k, n_anchors=n_anchors, min_precision=min_precision,
                            device=device, chunk_size=chunk_size)
    for r in res["queries"]:
        if "hits" in r:
            r["hits"] = tmeta["obs_id"].iloc[r["hits"]].astype(str).tolist()
    res["model"] = model
    Path(out_json).write_text(json.dumps(res, indent=1))
    row = search_table_row(res)
    pd.DataFrame([row]).to_csv(out_table, index=False)
    print(summary_line(res))
    return res


def summary_line(res: dict) -> str:
    """The evaluation in one line: the val threshold and, on test, both acceptance rates."""
    f = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    h = res["held_out_queries"]
    return (f"search_eval {res.get('model')}: threshold {res['match_threshold']:.3f} (chosen on val); on test: "
            f"class queries accepted {f(res['class_accept_rate'])} ({res['n_class']}), accepted with >= "
            f"{res['min_precision']:.0%} of {res['k']} right {f(res['class_found_rate'])}, off-topic queries rejected "
            f"{f(res['offtopic_reject_rate'])} ({res['n_offtopic']}); threshold chosen on half the queries, the other "
            f"half: found {f(h['class_found_rate'])}, rejected {f(h['offtopic_reject_rate'])}")


if __name__ == "__main__":
    from skytext.search_cli import main

    sys.exit(main())
