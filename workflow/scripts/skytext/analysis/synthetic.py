"""Synthetic embeddings with a known answer (tests and the scale benchmark): the embedding is a noisy
non-linear function of the properties ``encoded_*`` and of the class ``shape``, and independent of
``noise_*`` and ``coin``; so kNN R² is high for the first and about 0 for the second, and CKA of a set with a
rotated copy of itself is 1 and with an independent set about 0."""

from __future__ import annotations

import numpy as np
import pandas as pd


def catalogue(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return pd.DataFrame({
        "object_id": [f"obj{i:07d}" for i in range(n)],
        "encoded_a": a, "encoded_b": b,
        "noise_c": rng.normal(size=n), "noise_d": rng.uniform(size=n),
        "shape": np.where(a + 0.5 * b > 0, "disc", "sphere"),
        "coin": rng.choice(["heads", "tails"], n),
    })


def embed(cat: pd.DataFrame, dims: int = 32, noise: float = 0.05, seed: int = 1) -> np.ndarray:
    """A random two-layer map of (encoded_a, encoded_b) to ``dims`` features, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    z = cat[["encoded_a", "encoded_b"]].to_numpy()
    hidden = np.tanh(z @ rng.normal(size=(2, 64)) * 1.5 + rng.normal(size=64))
    X = hidden @ rng.normal(size=(64, dims)) / 8.0
    return (X + noise * rng.normal(size=X.shape)).astype(np.float32)


def random_rotation(dims: int, seed: int = 2) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dims, dims)))
    return q * np.sign(np.diag(r))
