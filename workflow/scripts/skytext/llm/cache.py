"""A content-addressed, on-disk cache of LLM answers.

The key is a SHA-256 over everything that decides the answer -- model, prompt version and text hash,
response schema, sampling parameters and a hash of the input -- and nothing else (not the backend, not the
server URL, not the source or shard), so a rerun, the Batch and the real-time backends, and a second DAG
over the same abstracts all find each other's answers and make no calls.

Entries are JSON files ``<root>/<kind>/<kk>/<key>.json`` written atomically (temporary file in the same
folder, then ``os.replace``): parallel shard jobs, or two workflows sharing the cache, never see a
half-written entry, and the last writer of two identical answers wins harmlessly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def sha256_json(obj: Any) -> str:
    """SHA-256 hex digest of ``obj`` as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old content or the new, never a mixture."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Cache:
    """``get``/``put`` JSON records by key under ``root/kind``."""

    def __init__(self, root: str | Path, kind: str = "summaries"):
        self.root = Path(root) / kind

    def path(self, key: str) -> Path:
        """The file of ``key``'s entry (``<root>/<first two hex digits>/<key>.json``)."""
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The record stored under ``key``, or ``None`` (a missing or unreadable entry is a miss)."""
        p = self.path(key)
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", p, exc)
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key`` atomically (a concurrent reader sees the old entry or the new one)."""
        atomic_write_text(self.path(key), json.dumps(record, sort_keys=True, ensure_ascii=False))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0
