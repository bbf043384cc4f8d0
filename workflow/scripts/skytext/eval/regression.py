"""Regression metrics with paired bootstrap intervals: R^2 and MAE per target for several feature sets
evaluated on the same held-out rows, and each set's R^2 improvement over a reference set.

Targets may be NaN where a variable is not meaningful for a row: each target is scored on its finite rows.
The bootstrap (:func:`skytext.eval.metrics._bootstrap`, resampling rows) is paired: every feature set is
scored on the same resamples, so differences get honest intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skytext.eval.metrics import CI, _bootstrap, _interval


def _r2_mae(y: np.ndarray, p: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R^2 and MAE over axis -2 ([..., n, t] arrays; m the mask of finite targets)."""
    cnt = m.sum(-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (y * m).sum(-2) / cnt
        ss_res = (((y - p) ** 2) * m).sum(-2)
        ss_tot = (((y - mean[..., None, :]) ** 2) * m).sum(-2)
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)
        mae = (np.abs(y - p) * m).sum(-2) / cnt
    return r2, mae


def scores(y: np.ndarray, preds: dict[str, np.ndarray], names: list[str], reference: str, n_boot: int,
           seed: int) -> pd.DataFrame:
    """One row per (target, feature set): n, r2, r2_lo/hi, mae, mae_lo/hi, r2_gain (vs ``reference``) with
    interval, improvement_pct; plus rows target='mean' (R^2 averaged over targets)."""
    m = np.isfinite(y)
    y0 = np.where(m, y, 0.0)
    sets = list(preds)
    P = np.stack([np.where(m, preds[s], 0.0) for s in sets])  # [S, n, t]
    ref = sets.index(reference)

    def stat(idx: np.ndarray) -> np.ndarray:  # idx [b, n] -> [b, S * (2t + 2)]
        r2, mae = _r2_mae(y0[idx][:, None], P[:, idx].transpose(1, 0, 2, 3), m[idx][:, None].astype(float))
        mean_r2 = np.nanmean(r2, -1, keepdims=True)
        gain = r2 - r2[:, ref: ref + 1]
        mgain = mean_r2 - mean_r2[:, ref: ref + 1]
        return np.concatenate([r2, mae, gain, mean_r2, mgain], -1).reshape(len(idx), -1)

    def chunked(idx: np.ndarray) -> np.ndarray:  # bounded memory: 64 resamples at a time
        return np.concatenate([stat(idx[i: i + 64]) for i in range(0, len(idx), 64)])

    n, t = y.shape
    point = stat(np.arange(n)[None])[0]
    bounds = _interval(_bootstrap(np.arange(n), chunked, n_boot, seed), CI) if n_boot else [[np.nan, np.nan]] * point.size
    width = 3 * t + 2
    rows = []
    for si, s in enumerate(sets):
        base = si * width
        for j, name in enumerate([*names, "mean"]):
            if name == "mean":
                r2i, gi, maei = base + 3 * t, base + 3 * t + 1, None
            else:
                r2i, gi, maei = base + j, base + 2 * t + j, base + t + j
            ref_r2 = point[ref * width + (3 * t if name == "mean" else j)]
            rows.append({"variable": name, "features": s, "n": int(m.sum(0).min() if name == "mean" else m[:, j].sum()),
                         "r2": point[r2i], "r2_lo": bounds[r2i][0], "r2_hi": bounds[r2i][1],
                         "mae": np.nan if maei is None else point[maei],
                         "mae_lo": np.nan if maei is None else bounds[maei][0],
                         "mae_hi": np.nan if maei is None else bounds[maei][1],
                         "r2_gain": point[gi], "r2_gain_lo": bounds[gi][0], "r2_gain_hi": bounds[gi][1],
                         "improvement_pct": 100 * point[gi] / abs(ref_r2) if ref_r2 else np.nan})
    return pd.DataFrame(rows)
