"""Synthetic embeddings with a known answer (tests and the benchmarks): the embedding is a noisy
non-linear function of the properties ``encoded_*`` and of the class ``shape``, and independent of
``noise_*`` and ``coin``; so kNN R² is high for the first and about 0 for the second, and CKA of a set with a
rotated copy of itself is 1 and with an independent set about 0. :func:`wide` makes the probe benchmark's
768-d set (a redshift-like ``z`` encoded in many dimensions, a ``noise_prop`` that is not)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def catalogue(n: int, seed: int) -> pd.DataFrame:
    """``n`` objects with two encoded properties, two noise properties, an encoded and a random class."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return pd.DataFrame({
        "object_id": [f"obj{i:07d}" for i in range(n)],
        "encoded_a": a, "encoded_b": b,
        "noise_c": rng.normal(size=n), "noise_d": rng.uniform(size=n),
        "shape": np.where(a + 0.5 * b > 0, "disc", "sphere"),
        "coin": rng.choice(["heads", "tails"], n),
    })


def embed(cat: pd.DataFrame, dims: int, noise: float, seed: int) -> np.ndarray:
    """A random two-layer map of (encoded_a, encoded_b) to ``dims`` features, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    z = cat[["encoded_a", "encoded_b"]].to_numpy()
    hidden = np.tanh(z @ rng.normal(size=(2, 64)) * 1.5 + rng.normal(size=64))
    X = hidden @ rng.normal(size=(64, dims)) / 8.0
    return (X + noise * rng.normal(size=X.shape)).astype(np.float32)


def wide(n: int, dims: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """(catalogue, embedding) of the probe benchmark: ``z`` (0..3, redshift-like) and ``logm`` are encoded
    linearly plus a mild non-linearity in ``dims`` noisy features; ``noise_prop`` is independent of them."""
    rng = np.random.default_rng(seed)
    z, logm = rng.uniform(0, 3, n), rng.normal(10, 0.5, n)
    latent = np.stack([(z - 1.5) / 0.87, (logm - 10) / 0.5, np.sin(2 * z)], axis=1)
    X = latent @ rng.normal(size=(3, dims)) / np.sqrt(3) + rng.normal(size=(n, dims)) * 2.0
    cat = pd.DataFrame({"object_id": [f"w{i:07d}" for i in range(n)], "z": z, "logm": logm,
                        "noise_prop": rng.normal(size=n) * 100.0})
    return cat, X.astype(np.float32)


def random_rotation(dims: int, seed: int) -> np.ndarray:
    """A random ``dims`` x ``dims`` orthogonal matrix (seeded)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dims, dims)))
    return q * np.sign(np.diag(r))
