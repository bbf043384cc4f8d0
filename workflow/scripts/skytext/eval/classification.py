"""Binary classification metrics with bootstrap confidence intervals, AUROC and Fleiss' kappa.

The positive class is named by the caller (``Real`` for real/bogus) and the orientation is written into
every result: ``{"tp": pos->pos, "fn": pos->neg, "fp": neg->pos, "tn": neg->neg}`` (true -> predicted).
Accuracy, precision, recall (of the positive class), specificity and F1 come with percentile bootstrap
intervals over the classified items (the resampling of :mod:`skytext.eval.metrics`). An undefined ratio
(no predicted positives, say) is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skytext.eval.metrics import CI, _bootstrap, _interval

STATS = ("accuracy", "precision", "recall", "specificity", "f1")


def confusion(y_true: Sequence[str], y_pred: Sequence[str], positive: str) -> dict[str, int]:
    """Counts ``tp, fn, fp, tn`` with ``positive`` as the positive class."""
    t = np.asarray(y_true, dtype=object) == positive
    p = np.asarray(y_pred, dtype=object) == positive
    if len(t) != len(p):
        raise ValueError(f"confusion: {len(t)} labels but {len(p)} predictions")
    return {"tp": int(np.sum(t & p)), "fn": int(np.sum(t & ~p)), "fp": int(np.sum(~t & p)), "tn": int(np.sum(~t & ~p))}


def _ratios(tp, fn, fp, tn) -> np.ndarray:
    """``[..., 5]`` accuracy, precision, recall, specificity, F1 (NaN where undefined)."""
    tp, fn, fp, tn = (np.asarray(v, dtype=np.float64) for v in (tp, fn, fp, tn))
    with np.errstate(divide="ignore", invalid="ignore"):
        n = tp + fn + fp + tn
        acc = (tp + tn) / n
        prec = tp / (tp + fp)
        rec = tp / (tp + fn)
        spec = tn / (tn + fp)
        f1 = 2 * tp / (2 * tp + fp + fn)
    return np.stack([acc, prec, rec, spec, f1], axis=-1)


def _clean(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def classification_summary(y_true: Sequence[str], y_pred: Sequence[str], positive: str, negative: str,
                           n_boot: int, seed: int) -> dict:
    """The confusion matrix (orientation written out), the five ratios, their bootstrap intervals and ``n``."""
    ci = CI
    cm = confusion(y_true, y_pred, positive)
    point = _ratios(cm["tp"], cm["fn"], cm["fp"], cm["tn"])
    out: dict = {"positive": positive, "negative": negative,
                 "orientation": {"tp": f"{positive}->{positive}", "fn": f"{positive}->{negative}",
                                 "fp": f"{negative}->{positive}", "tn": f"{negative}->{negative}"},
                 "confusion": cm, "n": int(sum(cm.values())), "n_boot": int(n_boot), "ci": float(ci), "seed": int(seed)}
    codes = 2 * (np.asarray(y_true, dtype=object) == positive).astype(np.float64) \
        + (np.asarray(y_pred, dtype=object) == positive).astype(np.float64)  # 3 tp, 2 fn, 1 fp, 0 tn
    bounds = [[None, None]] * len(STATS)
    if n_boot > 0 and codes.size:
        def stats(block: np.ndarray) -> np.ndarray:
            return _ratios((block == 3).sum(-1), (block == 2).sum(-1), (block == 1).sum(-1), (block == 0).sum(-1))

        samples = _bootstrap(codes, stats, n_boot, seed)
        bounds = []
        for j in range(len(STATS)):
            col = samples[:, j][np.isfinite(samples[:, j])]
            bounds.append(_interval(col[:, None], ci)[0] if col.size else [None, None])
    for j, name in enumerate(STATS):
        out[name] = _clean(point[j]) if codes.size else None
        out[f"{name}_ci"] = bounds[j]
    return out


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Area under the ROC curve of ``scores`` for detecting ``positives`` (ties count one half);
    ``None`` when one class is absent."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fleiss_kappa(ratings: np.ndarray) -> float | None:
    """Fleiss' kappa of ``ratings`` = ``[n_items, n_categories]`` counts (each row sums to the number of
    raters, >= 2); ``None`` when chance agreement is 1 (one category only)."""
    r = np.asarray(ratings, dtype=np.float64)
    n_raters = r.sum(1)
    if r.ndim != 2 or len(r) == 0 or np.any(n_raters != n_raters[0]) or n_raters[0] < 2:
        raise ValueError("fleiss_kappa: need [items, categories] counts with the same number (>= 2) of raters per item")
    m = n_raters[0]
    p_j = r.sum(0) / r.sum()
    p_i = (np.sum(r * r, 1) - m) / (m * (m - 1))
    p_bar, p_e = p_i.mean(), np.sum(p_j**2)
    if p_e >= 1:
        return None
    return float((p_bar - p_e) / (1 - p_e))
