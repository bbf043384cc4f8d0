"""Glue shared by the thin entry scripts in ``workflow/scripts/``.

Every entry script ends with::

    if "snakemake" in globals():
        with log_to(snakemake.log[0]):
            main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)

so the logic stays importable and testable, and everything the job prints lands in the rule's log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def log_to(path: str | os.PathLike | None):
    """Send stdout, stderr and ``logging`` to ``path`` for the duration of the block.

    An exception is written to the log with its traceback and re-raised as a one-line ``SystemExit`` so
    Snakemake shows the culprit, not a wall of text.
    """
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1, encoding="utf-8") as fh:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = fh
        root = logging.getLogger()
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - we re-raise as a one-liner
            traceback.print_exc(file=fh)
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise SystemExit(f"error: {msg} (details: {path})") from exc
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = old_out, old_err


def threads_for_torch(threads: int) -> None:
    """Make torch use exactly the cores Snakemake gave the job."""
    import torch

    torch.set_num_threads(max(1, int(threads)))


def to_terminal(line: str) -> None:
    """One progress line on the terminal Snakemake runs in (the job's original stderr), besides the job's log.

    :func:`log_to` sends ``sys.stderr`` to the rule's log; ``sys.__stderr__`` is still the stream Snakemake
    shows (on a cluster: the scheduler's job log), so a user sees long jobs move.
    """
    logging.getLogger("skytext.progress").info(line)
    stream = sys.__stderr__
    if stream is not None and stream is not sys.stderr:
        print(f"[skytext] {line}", file=stream, flush=True)
