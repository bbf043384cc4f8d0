"""The ``skytext`` command: ``skytext serve [--results results/] [--host 127.0.0.1] [--port 8000]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from skytext.serve import safety


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="skytext", description="skytext command line")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="a local web app over a results folder (search, objects, maps, tables)")
    s.add_argument("--results", default="results", help="the results folder (default: results)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--cache", default=None, help="cache for computed maps (default ~/.cache/skytext/serve)")
    return ap


def fixed_mmap_threshold(nbytes: int = 1 << 20) -> bool:
    """Have glibc's malloc serve every allocation of ``nbytes`` bytes or more with its own mmap, returned to the
    system when freed (``mallopt(M_MMAP_THRESHOLD)``; its default threshold rises after the first large free,
    so the start-up's large temporaries, model loading and key scales, would stay resident for the server's
    life: about 110 MB on the 3 x 100,000-item benchmark). ``False`` where there is no glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, int(nbytes)))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def serve(results: str, host: str, port: int, cache: str | None) -> int:
    """Build the app and run it with uvicorn until interrupted; prints the URL, opens nothing."""
    import torch
    import uvicorn

    from skytext.serve.app import TORCH_THREADS, create_app

    if not Path(results).is_dir():
        print(f"error: results folder {results!r} does not exist (run the workflow first, e.g. bin/demo)",
              file=sys.stderr)
        return 2
    if not safety.is_loopback(host):
        print(f"warning: binding {host}: the app is reachable from other machines; it has no authentication",
              file=sys.stderr)
    torch.set_num_threads(TORCH_THREADS)
    fixed_mmap_threshold()
    app = create_app(results, cache)
    shown = f"[{host}]" if ":" in host else host
    print(f"skytext serve: http://{shown}:{port}/  (results: {Path(results).resolve()}; Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skytext`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        return serve(args.results, args.host, args.port, args.cache)
    return 2


if __name__ == "__main__":
    sys.exit(main())
