"""Which shard a record belongs to: SHA-1 of its id, modulo the number of shards.

The same id lands in the same shard in every process and on every machine (Python's ``hash()`` of a
string is salted per process, so it cannot be used), and adding other ids never moves it. Demo images,
HST downloads and LLM summaries all shard proposals this way.
"""

from __future__ import annotations

import hashlib
from typing import Iterable


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
