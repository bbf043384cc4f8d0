"""Similarity search: a few seeded query objects per class, their top-k cosine neighbours in the set."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skytext.analysis.probes import knn_search


def pick_queries(objects: pd.DataFrame, class_col: str | None, per_class: int, max_queries: int,
                 seed: int) -> np.ndarray:
    """Row indices of the query objects: ``per_class`` per class (seeded), at most ``max_queries``."""
    rng = np.random.default_rng(seed)
    if class_col is None:
        return np.sort(rng.choice(len(objects), min(max_queries, len(objects)), replace=False))
    picks = []
    for _, rows in objects.groupby(objects[class_col].astype("string"), sort=True, dropna=True).indices.items():
        picks.extend(rng.choice(rows, min(per_class, len(rows)), replace=False).tolist())
    return np.array(picks[:max_queries], dtype=np.int64)


def similar(X: np.ndarray, objects: pd.DataFrame, queries: np.ndarray, k: int, columns: list[str]) -> pd.DataFrame:
    """One row per (query, rank): the neighbour's id, cosine similarity and its ``columns``."""
    if len(queries) == 0 or len(X) < 2:
        return pd.DataFrame(columns=["query_id", "rank", "neighbour_id", "cosine", *columns])
    dist, idx = knn_search(X, X[queries], min(k + 1, len(X)), "cosine", "auto")
    rows = []
    for qi, q in enumerate(queries):
        keep = [(d, j) for d, j in zip(dist[qi], idx[qi]) if j != q][:k]
        rows.append({"query_id": objects["id"].iat[q], "rank": 0, "neighbour_id": objects["id"].iat[q],
                     "cosine": 1.0, **{c: objects[c].iat[q] for c in columns}})
        for r, (d, j) in enumerate(keep, start=1):
            rows.append({"query_id": objects["id"].iat[q], "rank": r, "neighbour_id": objects["id"].iat[j],
                         "cosine": 1.0 - d, **{c: objects[c].iat[j] for c in columns}})
    return pd.DataFrame(rows)
