"""Retrieval between spectra and texts in the shared space, in the image study's retrieval.json contract.

Counting: the text candidate of a source is its pooled paper text; sources with the same set of papers
share one candidate (candidates de-duplicated by paper set, as images sharing one proposal text).
spectrum->text: each test source with papers ranks the unique paper-set texts of the test split (its own
set is the one right answer); text->spectrum: each unique text ranks all test spectra with papers and the
best-ranked source of its paper set counts. Recall@k % hit when rank <= ceil(k/100 * n_candidates).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.eval.metrics import cutoff, random_baseline, retrieval_summary
from skytext.eval.retrieval import evaluate_ranks, oracle, pair_targets, random_result
from skytext.eval.search import ranks_of_any_target, ranks_of_targets
from skytext.spectra.plots import recall_curves

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
    """Both directions' ranks summarised (retrieval.json contract) with Recall@k % curves, and the
    spectrum->text rank of every query (``spectrum_to_text.ranks``)."""
    text_of_spec, specs_of_text = pair_targets(s_keys, t_keys)
    s, t = spec[s_rows], text[t_rows]
    s2t = ranks_of_targets(s, t, text_of_spec, chunk_size=cfg["chunk_size"], device="cpu")
    t2s = ranks_of_any_target(t, s, specs_of_text, chunk_size=cfg["chunk_size"], device="cpu")
    out = _renamed(evaluate_ranks(s2t, t2s, len(t), len(s), cfg, seed, [len(x) for x in specs_of_text]))
    out["spectrum_to_text"]["recall_at_pct"] = recall_curve(s2t, len(t), cfg["k_percent"], cfg["n_boot"], seed)
    out["text_to_spectrum"]["recall_at_pct"] = recall_curve(t2s, len(s), cfg["k_percent"], cfg["n_boot"], seed)
    out["spectrum_to_text"]["ranks"] = [int(r) for r in s2t]
    return out


def baselines(s_keys, t_keys, sources: list[str], gt: pd.DataFrame | None, cfg: dict, seed: int) -> dict:
    """``random`` (exact expectation) and, when ground truth exists, ``oracle`` (class plus the qualitative
    facts texts state, ties broken at random)."""
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


def recall_at_1pct(result: dict):
    """spectrum->text Recall@1 % of a result (None when its curve lacks k = 1 %)."""
    curve = result["spectrum_to_text"].get("recall_at_pct")
    if not curve or 1.0 not in curve["k_percent"]:
        return None
    return curve["recall"][curve["k_percent"].index(1.0)]


def recall_at_rank1(result: dict):
    """spectrum->text Recall@1 (the right text ranked first; None for rows without ranks)."""
    d = result["spectrum_to_text"]
    if d.get("ranks") is None:  # baselines: their summary's Recall@1 when eval.recall_at holds 1
        return d.get("recall_at", {}).get("1")
    return float(np.mean(np.asarray(d["ranks"]) == 1)) if len(d["ranks"]) else None


def headline(results: dict, n_queries: int, n_candidates: int) -> dict:
    """The headline numbers: spectrum->text Recall@1 % with its rank cut stated, Recall@1 beside it, and the
    model over the shuffled control (None when the control finds none: no floor)."""
    cut = int(cutoff(n_candidates, 1.0)) if n_candidates else None
    at1pct = {n: recall_at_1pct(r) for n, r in results.items()}
    ens, shf = at1pct.get("ensemble"), at1pct.get("shuffled")
    return {"spectrum_to_text_recall_at_1pct": at1pct,
            "rank_cut_1pct": cut,
            "rank_cut_statement": f"1% of {n_candidates} candidates = rank <= {cut}" if cut else None,
            "spectrum_to_text_recall_at_1": {n: recall_at_rank1(r) for n, r in results.items()},
            "ensemble_over_shuffled": (ens / shf if ens is not None and shf else None),
            "n_test_sources_with_papers": n_queries, "n_text_candidates": n_candidates}


def run_retrieval(spectral_ids: str, text_ids: str, observations: str, variants: list[str],
                  variant_paths: list[str], json_out: str, curves_out: str, eval_cfg: dict, seed: int) -> None:
    """Rule spectra_retrieval: both directions for every variant and ensemble seed, random and oracle rows.
    ``eval_cfg``: split, k_percent, recall_at, n_boot, chunk_size."""
    split = eval_cfg["split"]
    src, tmeta = pd.read_parquet(spectral_ids), pd.read_parquet(text_ids)
    s_rows, t_rows, s_keys, t_keys = candidates(src, tmeta, split)
    results = {}
    for variant, path in zip(variants, variant_paths):
        z = np.load(path)
        results[variant] = evaluate(z["spec"], z["text"], s_rows, t_rows, s_keys, t_keys, eval_cfg, seed)
        seeds = sorted({k.split("_")[0] for k in z.files if k.startswith("seed")})
        if variant == "ensemble" and len(seeds) > 1:
            for s in seeds:
                results[f"{variant}/{s}"] = evaluate(z[f"{s}_spec"], z[f"{s}_text"], s_rows, t_rows, s_keys, t_keys,
                                                     eval_cfg, seed)
    results.update(baselines(s_keys, t_keys, src["source_id"].iloc[s_rows].tolist(), pd.read_parquet(observations),
                             eval_cfg, seed))
    out = {"split": split, "results": results, "headline": headline(results, len(s_rows), len(t_rows))}
    Path(json_out).write_text(json.dumps(out, indent=1))
    recall_curves(results, curves_out)
    print(json.dumps(out["headline"], indent=1))
