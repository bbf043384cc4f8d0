"""Spearman correlation of each property with an embedding: with its best linear projection (the ridge
probe's held-out predictions) and with each UMAP axis (over the UMAP subsample)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def _rho(a, b) -> tuple[float, int]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan"), int(ok.sum())
    return float(spearmanr(a[ok], b[ok]).statistic), int(ok.sum())


def correlations(set_name: str, objects: pd.DataFrame, properties: list[str], predictions: pd.DataFrame,
                 coords: pd.DataFrame) -> pd.DataFrame:
    """One row per (property, measure): Spearman rho and n with the linear projection and each UMAP axis."""
    rows = []
    joined = coords.merge(objects, on="id", how="left")
    for p in properties:
        lin = predictions[(predictions["property"] == p) & (predictions["method"] == "linear")]
        rho, n = _rho(lin["y_true"], lin["y_pred"])
        rows.append({"set": set_name, "property": p, "measure": "linear_projection", "spearman": rho, "n": n})
        for axis in ("umap_1", "umap_2"):
            rho, n = _rho(joined[p], joined[axis])
            rows.append({"set": set_name, "property": p, "measure": axis, "spearman": rho, "n": n})
    return pd.DataFrame(rows, columns=["set", "property", "measure", "spearman", "n"])
