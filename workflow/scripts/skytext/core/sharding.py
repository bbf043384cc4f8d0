"""Which shard a record belongs to: SHA-1 of its id, modulo the number of shards.

The same id lands in the same shard in every process and on every machine (Python's ``hash()`` of a
string is salted per process, so it cannot be used), and adding other ids never moves it. Demo images,
HST downloads and LLM summaries all shard proposals this way. Embedding jobs split a table into contiguous
parts instead (:func:`part_rows`, :func:`join_parts`), so joining keeps the order.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np
import pandas as pd


def _count(n_shards: int) -> int:
    if int(n_shards) < 1:
        raise ValueError(f"sharding: n_shards must be at least 1, got {n_shards!r}")
    return int(n_shards)


def shard_of(key: object, n_shards: int) -> int:
    """Shard (``0`` .. ``n_shards - 1``) of ``key``: ``int(sha1(str(key) as UTF-8)) % n_shards``."""
    return int(hashlib.sha1(str(key).encode("utf-8")).hexdigest(), 16) % _count(n_shards)


def in_shard(keys: Iterable[object], shard: int, n_shards: int) -> list[bool]:
    """For each key, whether it belongs to ``shard`` (a mask for ``DataFrame[...]``)."""
    shard, n_shards = int(shard), _count(n_shards)
    if not 0 <= shard < n_shards:
        raise ValueError(f"sharding: shard {shard} is not in 0..{n_shards - 1}")
    return [shard_of(k, n_shards) == shard for k in keys]


def part_rows(rows, part: int, parts: int):
    """Rows of embedding job ``part`` of ``parts``: contiguous slices, in order, covering every row once."""
    if not 0 <= part < parts:
        raise ValueError(f"embedding part {part} is not one of 0..{parts - 1}")
    n = len(rows)
    lo, hi = n * part // parts, n * (part + 1) // parts
    return rows.iloc[lo:hi]


def join_parts(arrays: list[np.ndarray], ids: list[pd.DataFrame]) -> tuple[np.ndarray, pd.DataFrame]:
    """The parts' embeddings and id tables concatenated in part order (rows stay aligned)."""
    for i, (a, t) in enumerate(zip(arrays, ids)):
        if len(a) != len(t):
            raise ValueError(f"embedding part {i} has {len(a)} rows but its id table has {len(t)}")
    dims = {a.shape[1] for a in arrays if a.ndim == 2 and len(a)}
    if len(dims) > 1:
        raise ValueError(f"embedding parts disagree on the dimension: {sorted(dims)}")
    width = dims.pop() if dims else (arrays[0].shape[1] if arrays and arrays[0].ndim == 2 else 0)
    emb = np.concatenate([a.reshape(len(a), width) for a in arrays]) if arrays else np.zeros((0, 0), np.float16)
    return emb, pd.concat(ids, ignore_index=True) if ids else pd.DataFrame()
