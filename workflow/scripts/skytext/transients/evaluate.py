"""The study's evaluation: one ``classification.json`` per method, the comparison table, refinement counts,
the judge's coherence as an error detector, repeatability, and costs.

Methods: ``llm`` (the classify answers), ``llm-refined`` (after the refinement round), ``features``,
``cnn``, ``knn``. Each is scored on the triplets it answered (``scored_on: answered``); triplets it rejected
are counted (``rejected``) and listed in the rejects, never silently dropped. Because the LLM methods may see
fewer triplets (``classify.max_triplets``, rejects) than the baselines, every method is scored again on the
**common subset** -- the triplets every method answered (``scored_on: common``) -- and each row of the
comparison table gives its ``n``. Real is the positive class everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from skytext.eval.classification import auroc, classification_summary, fleiss_kappa

POS, NEG = "Real", "Bogus"


def common_ids(preds: dict[str, pd.DataFrame]) -> list[str]:
    """The triplets every method answered (sorted ids)."""
    sets = [set(df["obs_id"]) for df in preds.values()]
    return sorted(set.intersection(*sets)) if sets else []


def method_result(name: str, preds: pd.DataFrame, truth: pd.DataFrame, n_boot: int, seed: int, n_rejected: int,
                  common: list[str], verdicts: pd.DataFrame | None = None) -> dict[str, Any]:
    """``classification.json`` of one method: ``preds`` has ``obs_id``, ``class`` (and ``interest_score``);
    scored on what it answered and, under ``common``, on the ``common`` ids only."""
    df = preds.merge(truth[["obs_id", "label", "subtype"]], on="obs_id", how="inner")
    out = {"method": name, **classification_summary(df["label"], df["class"], POS, NEG, n_boot, seed),
           "rejected": int(n_rejected), "triplets": int(len(df) + n_rejected)}
    sub = df[df["obs_id"].isin(set(common))]
    out["common"] = classification_summary(sub["label"], sub["class"], POS, NEG, n_boot, seed)
    subs = {}
    for sub, g in df.groupby("subtype", sort=True):
        if sub:
            r = classification_summary(g["label"], g["class"], POS, NEG, n_boot, seed)
            subs[str(sub)] = {"n": r["n"], "accuracy": r["accuracy"], "accuracy_ci": r["accuracy_ci"],
                              "confusion": r["confusion"]}
    out["per_subtype"] = subs
    if "interest_score" in df.columns:
        out["by_interest"] = {str(s): {"n": int(len(g)), "accuracy": float((g["class"] == g["label"]).mean()),
                                       "real_fraction": float((g["label"] == POS).mean())}
                              for s, g in df.groupby("interest_score", sort=True)}
    if verdicts is not None and len(verdicts):
        out["judge"] = judge_result(df, verdicts)
    return out


def judge_result(df: pd.DataFrame, verdicts: pd.DataFrame) -> dict[str, Any]:
    """Coherence against correctness: AUROC of (5 - coherence) for detecting errors, mean coherence of right
    and wrong answers, and the interest-score validity rate."""
    m = df.merge(verdicts[["obs_id", "coherence", "interest_valid"]], on="obs_id", how="inner")
    wrong = (m["class"] != m["label"]).to_numpy()
    coh = m["coherence"].astype(float).to_numpy()
    return {"n": int(len(m)), "auroc_low_coherence_detects_errors": auroc(5 - coh, wrong),
            "mean_coherence_correct": float(coh[~wrong].mean()) if (~wrong).any() else None,
            "mean_coherence_wrong": float(coh[wrong].mean()) if wrong.any() else None,
            "coherence_histogram": {str(int(k)): int(v) for k, v in pd.Series(coh).value_counts().sort_index().items()},
            "interest_valid_rate": float((m["interest_valid"] == "yes").mean()) if len(m) else None}


def refinement_result(refined: pd.DataFrame, verdicts: pd.DataFrame, truth: pd.DataFrame,
                      refine_below: float) -> dict:
    """How many answers the refinement round changed, in each direction, and whether only low-coherence ones."""
    m = refined.merge(truth[["obs_id", "label"]], on="obs_id").merge(verdicts[["obs_id", "coherence"]], on="obs_id",
                                                                     how="left")
    before = m["first_class"] == m["label"]
    after = m["class"] == m["label"]
    low = m["coherence"].fillna(99) < refine_below
    return {"refine_below": float(refine_below), "asked_again": int(m["refined"].sum()), "low_coherence": int(low.sum()),
            "changed": int(m["changed"].sum()), "wrong_to_right": int((~before & after).sum()),
            "right_to_wrong": int((before & ~after).sum()),
            "changed_outside_low_coherence": int((m["changed"] & ~low).sum()),
            "accuracy_before": float(before.mean()) if len(m) else None,
            "accuracy_after": float(after.mean()) if len(m) else None}


def repeat_result(table: pd.DataFrame, truth: pd.DataFrame, temperature: float) -> dict[str, Any]:
    """Agreement rate (all runs give the same answer) and Fleiss' kappa over Real/Bogus/reject."""
    runs = [c for c in table.columns if c.startswith("run_")]
    if len(runs) < 2 or not len(table):
        return {"runs": len(runs), "n": int(len(table)), "agreement": None, "fleiss_kappa": None}
    cats = ["Real", "Bogus", "reject"]
    counts = np.stack([(table[runs] == c).sum(1).to_numpy() for c in cats], 1)
    lab = table.merge(truth[["obs_id", "label"]], on="obs_id")["label"]
    return {"runs": len(runs), "n": int(len(table)), "temperature": float(temperature),
            "agreement": float((counts.max(1) == len(runs)).mean()), "fleiss_kappa": fleiss_kappa(counts),
            "accuracy_per_run": [float((table[r].to_numpy() == lab.to_numpy()).mean()) for r in runs]}


def comparison_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per method scored on what it answered, then one per method on the common subset; each row
    with its ``n``, the method's rejects, the metrics with their bootstrap CIs and the confusion counts."""
    rows = []
    for scored_on in ("answered", "common"):
        for name, r in results.items():
            m = r if scored_on == "answered" else r["common"]
            row = {"method": name, "scored_on": scored_on, "n": m["n"], "rejected": r["rejected"]}
            for k in ("accuracy", "precision", "recall", "f1"):
                lo, hi = m[f"{k}_ci"]
                row[k] = m[k]
                row[f"{k}_ci"] = f"[{lo:.3f}, {hi:.3f}]" if lo is not None else ""
            row.update({k: m["confusion"][k] for k in ("tp", "fn", "fp", "tn")})
            rows.append(row)
    return pd.DataFrame(rows)


def comparison_html(table: pd.DataFrame, extra: dict[str, Any]) -> str:
    """A self-contained HTML page: the comparison table and the study's headline numbers."""
    fmt = {c: (lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}")
           for c in ("accuracy", "precision", "recall", "f1")}
    body = table.to_html(index=False, formatters=fmt, border=0, classes="cmp")
    items = "".join(f"<li><b>{k}</b>: {v}</li>" for k, v in extra.items())
    return ("<html><head><meta charset='utf-8'><style>table.cmp{border-collapse:collapse}"
            "table.cmp td,table.cmp th{padding:3px 8px;border-bottom:1px solid #ccc}</style></head><body>"
            "<h3>Real/bogus classification (Real = positive; tp: Real&rarr;Real, fn: Real&rarr;Bogus, "
            "fp: Bogus&rarr;Real, tn: Bogus&rarr;Bogus)</h3><p>scored_on <i>answered</i>: each method on the "
            "triplets it answered; <i>common</i>: every method on the triplets all methods answered.</p>" + body + f"<ul>{items}</ul></body></html>")
