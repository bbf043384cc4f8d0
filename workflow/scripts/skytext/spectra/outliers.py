"""Anomaly scores in an embedding space (mean cosine distance to the k nearest neighbours, or an isolation
forest) and precision/recall of planted outliers among the top ranks."""

from __future__ import annotations

import numpy as np


def scores(x: np.ndarray, method: str, k: int, seed: int) -> np.ndarray:
    """Higher = more anomalous; ``x`` rows L2-normalised."""
    if method == "iforest":
        from sklearn.ensemble import IsolationForest

        return -IsolationForest(random_state=seed, n_estimators=200).fit(x).score_samples(x)
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(x) - 1)
    if k < 1:
        return np.zeros(len(x))
    dist, _ = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(x).kneighbors(x)
    return dist[:, 1:].mean(axis=1)


def precision_recall_at(score: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float]:
    """(precision, recall) of the planted outliers among the ``k`` highest scores (ties: stable order)."""
    truth = np.asarray(truth, bool)
    if k < 1 or truth.sum() == 0:
        return float("nan"), float("nan")
    top = np.argsort(-score, kind="stable")[:k]
    hits = int(truth[top].sum())
    return hits / k, hits / int(truth.sum())


def fused(shared_spec: np.ndarray, shared_text: np.ndarray) -> np.ndarray:
    """A source's point in the shared space: its spectrum and text tower vectors side by side, normalised
    (both towers of one source; disagreement between them moves it away from its neighbours)."""
    z = np.concatenate([shared_spec, shared_text], axis=1)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def mismatch(shared_spec: np.ndarray, shared_text: np.ndarray) -> np.ndarray:
    """Cross-modal disagreement in the shared space: the mean of (fraction of texts closer to a source's
    spectrum than its own text) and (fraction of spectra closer to its text than its own spectrum)."""
    sim = shared_spec @ shared_text.T
    own = np.diag(sim)
    n = len(sim)
    return 0.5 * ((sim > own[:, None]).sum(1) + (sim > own[None, :]).sum(0)) / max(n, 1)
