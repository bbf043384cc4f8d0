"""Which GPUs a job on a workstation may use.

Snakemake's ``gpu`` resource caps how many GPUs running jobs hold in total, but it does not say *which*
ones. On a workstation the user lists the devices in ``SKYTEXT_GPU_IDS`` (e.g. ``0,1,2,3``); a job that
needs ``n`` claims ``n`` of them by taking an exclusive ``flock`` on one lock file per id, and sets
``CUDA_VISIBLE_DEVICES`` to its ids (the torchrun workers of a training job inherit it). The kernel drops
the locks when the process ends, however it ends, so a killed job never strands a GPU. Where a scheduler
already set ``CUDA_VISIBLE_DEVICES`` (Slurm), nothing is claimed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from pathlib import Path


def _ids() -> list[str]:
    return [i.strip() for i in os.environ.get("SKYTEXT_GPU_IDS", "").split(",") if i.strip()]


def _lock_dir() -> Path:
    d = Path(os.environ.get("SKYTEXT_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / "skytext-gpu-locks")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _try(ids: list[str], n: int, lock_dir: Path) -> list[tuple[str, object]]:
    held = []
    for i in ids:
        if len(held) == n:
            break
        fh = open(lock_dir / f"gpu-{i}.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        held.append((i, fh))
    if len(held) < n:  # all or nothing, so two jobs never each hold half of what they need
        _release(held)
        return []
    return held


def _release(held) -> None:
    for _, fh in held:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


@contextlib.contextmanager
def claim(n: int, wait_s: float = 3600.0, poll_s: float = 0.5):
    """Hold ``n`` of the GPUs in ``SKYTEXT_GPU_IDS`` for the block (waiting up to ``wait_s`` for them to be
    free); yields their ids (``None``: nothing to do)."""
    ids = _ids()
    if n <= 0 or not ids or "CUDA_VISIBLE_DEVICES" in os.environ:
        yield None
        return
    if n > len(ids):
        raise ValueError(f"the job needs {n} GPUs but SKYTEXT_GPU_IDS lists {len(ids)} ({','.join(ids)})")
    lock_dir, deadline = _lock_dir(), time.monotonic() + wait_s
    while not (held := _try(ids, n, lock_dir)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {n} free GPUs among SKYTEXT_GPU_IDS={','.join(ids)} after {wait_s:.0f} s "
                               f"(locks in {lock_dir}); is --resources gpu larger than the list?")
        time.sleep(poll_s)
    mine = [i for i, _ in held]
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(mine)
    try:
        yield mine
    finally:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        _release(held)
