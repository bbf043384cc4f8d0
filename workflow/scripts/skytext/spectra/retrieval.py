"""Retrieval between spectra and texts in the shared space, in the image study's retrieval.json contract.

Counting: the text candidate of a source is its pooled paper text; sources with the same set of papers
share one candidate (candidates de-duplicated by paper set, as images sharing one proposal text).
spectrum->text: each test source with papers ranks the unique paper-set texts of the test split (its own
set is the one right answer); text->spectrum: each unique text ranks all test spectra with papers and the
best-ranked source of its paper set counts. Recall@k % hit when rank <= ceil(k/100 * n_candidates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skytext.eval.metrics import cutoff, retrieval_summary
from skytext.eval.retrieval import evaluate_ranks, oracle, pair_targets, random_result
from skytext.eval.search import ranks_of_any_target, ranks_of_targets

CONVENTION = ("spectrum->text: each test source ranks the unique paper-set texts of the split (sources with "
              "identical paper sets share one candidate); text->spectrum: each text ranks all test spectra "
              "with papers, best source of its paper set counts; top-k% hit when rank <= ceil(k/100 * n_candidates)")
RENAME = {"image_to_text": "spectrum_to_text", "text_to_image": "text_to_spectrum"}


def _renamed(res: dict) -> dict:
    out = {RENAME.get(k, k): v for k, v in res.items()}
    out["convention"] = CONVENTION
    return out


def recall_curve(ranks: np.ndarray, n_candidates: int, k_percent, n_boot: int, seed: int) -> dict:
    """Recall@k % at every ``k_percent`` with bootstrap intervals (the shared bootstrap of retrieval_summary)."""
    cuts = sorted({int(c) for c in cutoff(n_candidates, np.asarray(k_percent, float))})
    s = retrieval_summary(ranks, n_candidates, recall_at=cuts, n_boot=n_boot, seed=seed)
    rec, ci = [], []
    for k in k_percent:
        c = str(int(cutoff(n_candidates, float(k))))
        rec.append(s["recall_at"][c])
        ci.append(s["recall_at_ci"][c])
    return {"k_percent": [float(k) for k in k_percent], "recall": rec, "recall_ci": ci}


def candidates(spec_meta: pd.DataFrame, text_meta: pd.DataFrame, split: str):
    """(rows of spectra, rows of unique texts, paper-set key of each spectrum, key of each text)."""
    t = text_meta.reset_index(drop=True)
    t = t[t["split"] == split]
    key_of = dict(zip(t["source_id"], t["paper_set"]))
    s_rows = np.flatnonzero(spec_meta["source_id"].isin(set(key_of)).to_numpy() & (spec_meta["split"] == split).to_numpy())
    uniq = t.drop_duplicates("paper_set")
    return s_rows, uniq.index.to_numpy(), [key_of[s] for s in spec_meta["source_id"].iloc[s_rows]], uniq["paper_set"].tolist()


def evaluate(spec: np.ndarray, text: np.ndarray, s_rows, t_rows, s_keys, t_keys, cfg: dict, seed: int) -> dict:
    text_of_spec, specs_of_text = pair_targets(s_keys, t_keys)
    s, t = spec[s_rows], text[t_rows]
    s2t = ranks_of_targets(s, t, text_of_spec, chunk_size=cfg["chunk_size"])
    t2s = ranks_of_any_target(t, s, specs_of_text, chunk_size=cfg["chunk_size"])
    out = _renamed(evaluate_ranks(s2t, t2s, len(t), len(s), cfg, seed, [len(x) for x in specs_of_text]))
    out["spectrum_to_text"]["recall_at_pct"] = recall_curve(s2t, len(t), cfg["k_percent"], cfg["n_boot"], seed)
    out["text_to_spectrum"]["recall_at_pct"] = recall_curve(t2s, len(s), cfg["k_percent"], cfg["n_boot"], seed)
    return out


def baselines(s_keys, t_keys, sources: list[str], gt: pd.DataFrame | None, cfg: dict, seed: int) -> dict:
    """``random`` (exact expectation) and, when ground truth exists, ``oracle`` (class plus the qualitative
    facts texts state, ties broken at random)."""
    from skytext.eval.metrics import random_baseline

    _, specs_of_text = pair_targets(s_keys, t_keys)
    out = {"random": _renamed(random_result(len(t_keys), len(s_keys), [len(x) for x in specs_of_text], cfg, seed))}
    n = len(t_keys)
    out["random"]["spectrum_to_text"]["recall_at_pct"] = {
        "k_percent": [float(k) for k in cfg["k_percent"]], "recall_ci": None,
        "recall": [float(random_baseline(n, float(k))) for k in cfg["k_percent"]]}
    if gt is None or "gt_class" not in gt or gt["gt_class"].isna().all():
        return out
    g = gt.set_index("obs_id")
    images = pd.DataFrame({"proposal_id": s_keys, "gt_class": g.loc[sources, "gt_class"].to_numpy(),
                           "gt_attrs": g.loc[sources, "gt_attrs"].to_numpy()})
    first = images.drop_duplicates("proposal_id").set_index("proposal_id")
    props = pd.DataFrame({"proposal_id": t_keys, "gt_class": first.loc[t_keys, "gt_class"].to_numpy(),
                          "gt_attrs": first.loc[t_keys, "gt_attrs"].to_numpy()})
    orc = oracle(images, props, cfg, seed)
    if orc is not None:
        out["oracle"] = _renamed(orc)
    return out
