"""The split shared by every study: whole groups (proposals, sources, objects) go to train, val or test by a
seeded hash order, so no group straddles two splits."""

from __future__ import annotations

import hashlib
import math


def split_by_group(group_ids, val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """group id -> 'train' | 'val' | 'test', by a seeded hash order (stable when groups are added)."""
    ids = sorted(set(map(str, group_ids)), key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    n = len(ids)
    n_test = math.ceil(test_fraction * n) if n >= 3 and test_fraction > 0 else 0
    n_val = math.ceil(val_fraction * n) if n >= 3 and val_fraction > 0 else 0
    out = {}
    for i, p in enumerate(ids):
        out[p] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out
