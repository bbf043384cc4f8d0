"""Comparing two embeddings of the same objects: linear CKA, mutual k-nearest-neighbour overlap (cosine)
and the per-object cosine similarity where the dimensions match."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skytext.analysis.probes import knn_search, normalise
from skytext.analysis.umaps import subsample


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019): ``||Yc' Xc||_F^2 / (||Xc' Xc||_F ||Yc' Yc||_F)``, columns centred."""
    X = np.asarray(X, np.float64) - np.mean(X, axis=0)
    Y = np.asarray(Y, np.float64) - np.mean(Y, axis=0)
    num = np.linalg.norm(Y.T @ X) ** 2
    den = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    return float(num / den) if den > 0 else float("nan")


def mutual_knn(X: np.ndarray, Y: np.ndarray, k: int, backend: str) -> float:
    """Mean fraction of each object's ``k`` cosine neighbours (itself excluded) shared by both spaces."""
    k = min(k, len(X) - 1)
    if k < 1:
        return float("nan")
    _, a = knn_search(X, X, k, "cosine", backend, exclude_self=True)
    _, b = knn_search(Y, Y, k, "cosine", backend, exclude_self=True)
    a.sort(axis=1)
    b.sort(axis=1)
    shared = [np.intersect1d(r, s, assume_unique=True).size for r, s in zip(a, b)]
    return float(np.mean(shared) / k)


def object_cosines(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``X`` with the same row of ``Y``."""
    return (normalise(X) * normalise(Y)).sum(axis=1)


def compare(name_a: str, ids_a, X_a, type_a: str, name_b: str, ids_b, X_b, type_b: str, cfg: dict,
            seed: int) -> tuple[dict, pd.DataFrame | None]:
    """One row of pairs.csv for two sets (and per-object cosines where the dims match)."""
    row = {"set_a": name_a, "set_b": name_b, "n_a": len(ids_a), "n_b": len(ids_b), "n_shared": 0,
           "n_compared": 0, "only_in_a": len(ids_a), "only_in_b": len(ids_b), "cka_linear": np.nan,
           "mutual_knn": np.nan, "cosine_mean": np.nan, "cosine_median": np.nan, "note": ""}
    if type_a != type_b:
        row["note"] = f"id types differ ({type_a} vs {type_b}): not joined"
        return row, None
    shared, ia, ib = np.intersect1d(np.asarray(ids_a), np.asarray(ids_b), return_indices=True)
    row.update(n_shared=len(shared), only_in_a=len(ids_a) - len(shared), only_in_b=len(ids_b) - len(shared))
    if len(shared) < 3:
        row["note"] = f"{len(shared)} shared objects: not compared"
        return row, None
    pick = subsample(len(shared), cfg["max_objects"], seed)
    A, B = X_a[ia[pick]], X_b[ib[pick]]
    row.update(n_compared=len(pick), cka_linear=linear_cka(A, B), mutual_knn=mutual_knn(A, B, cfg["knn_k"], "auto"))
    if len(pick) < len(shared):
        row["note"] = f"seeded subsample of {len(pick)} shared objects"
    cos = None
    if A.shape[1] == B.shape[1]:
        c = object_cosines(A, B)
        row.update(cosine_mean=float(c.mean()), cosine_median=float(np.median(c)))
        cos = pd.DataFrame({"set_a": name_a, "set_b": name_b, "id": shared[pick].astype(str), "cosine": c})
    return row, cos
