"""One seeded UMAP per embedding set (the same settings for every set, e.g. AION's n_neighbors=30,
min_dist=0, metric=cosine), fitted on a seeded subsample of at most ``max_objects`` objects and reused by
every panel and by the correlations."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def subsample(n: int, max_objects: int, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded subsample of at most ``max_objects`` of ``n`` rows."""
    if n <= max_objects:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_objects, replace=False))


def fit_umap(X: np.ndarray, ids: np.ndarray, cfg: dict, seed: int) -> tuple[pd.DataFrame, list[str]]:
    """(table of ``id, umap_1, umap_2`` for the fitted subsample, notes)."""
    rows = subsample(len(X), cfg["max_objects"], seed)
    notes = []
    if len(rows) < len(X):
        notes.append(f"UMAP fitted on a seeded subsample of {len(rows)} of {len(X)} objects")
    if len(rows) < 4:
        notes.append(f"{len(rows)} objects: too few for UMAP")
        return pd.DataFrame({"id": ids[rows], "umap_1": np.nan, "umap_2": np.nan}), notes
    import umap

    n_neighbors = min(cfg["n_neighbors"], len(rows) - 1)
    if n_neighbors < cfg["n_neighbors"]:
        notes.append(f"n_neighbors lowered to {n_neighbors} for {len(rows)} objects")
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=cfg["min_dist"], metric=cfg["metric"],
                        random_state=seed, low_memory=cfg["low_memory"], n_components=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xy = reducer.fit_transform(X[rows])
    return pd.DataFrame({"id": ids[rows], "umap_1": xy[:, 0], "umap_2": xy[:, 1]}), notes
