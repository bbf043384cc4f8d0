"""``python -m skytext.search``: search an index folder of the image study from the command line::

    python -m skytext.search "globular cluster" --k 10 --index results/images/demo/embed/<model>/test [--html hits.html]
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


from skytext.core.vocab import read_lines


from skytext.eval.query import BACKGROUND_FILE, TEMPLATES_FILE, read_templates, search_index

def find_results_root(index: str | Path) -> Path | None:
    """The results folder of an index (``<root>/embed/<model>/<split>``): the nearest parent holding
    ``dataset/proposals.parquet``, or ``None``."""
    for parent in list(Path(index).resolve().parents)[:4]:
        if (parent / "dataset" / "proposals.parquet").exists():
            return parent
    return None


def annotate(df, root: Path | None):
    """Add ``title`` (proposal title) and, on the demo, ``class`` (true class) from ``<root>/dataset``."""
    import pandas as pd

    if root is None:
        return df
    props = pd.read_parquet(root / "dataset" / "proposals.parquet")
    df = df.assign(title=df["proposal_id"].astype(str).map(dict(zip(props["proposal_id"].astype(str), props["title"]))))
    obs = pd.read_parquet(root / "dataset" / "observations.parquet")
    if "gt_class" in obs and obs["gt_class"].notna().any():
        df = df.assign(**{"class": df["obs_id"].map(dict(zip(obs["obs_id"], obs["gt_class"])))})
    return df


def read_threshold(args, root: Path | None, index: Path) -> float | None:
    """``--threshold``, else the ``threshold`` of ``--calibration`` or of ``<root>/eval/search/<model>.json``."""
    if args.threshold is not None:
        return args.threshold
    path = Path(args.calibration) if args.calibration else None
    if path is None and root is not None:
        path = root / "eval" / "search" / f"{index.resolve().parent.name}.json"
    if path is None or not path.exists():
        if args.calibration:
            raise OSError(f"calibration file {path} not found")
        return None
    return float(json.loads(path.read_text())["threshold"])


def verdict(best: float, threshold: float | None, calibrated: bool) -> str:
    """One comment line on whether a query found anything."""
    if not calibrated:
        return "raw cosine similarity (--raw): no calibrated score, no threshold"
    if threshold is None:
        return f"best score {best:.2f}; no threshold known (pass --threshold or --calibration, or run search_eval)"
    if best >= threshold:
        return f"match: best score {best:.2f} >= threshold {threshold:.2f}"
    return f"no good match: best score {best:.2f} < threshold {threshold:.2f}"


def _resolve(path: str, index: Path) -> Path:
    """An image path of ``images.parquet`` (relative to the workflow folder) as found from here."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    for parent in index.resolve().parents:
        if (parent / p).exists():
            return parent / p
    return p


def _thumbnail(path: Path, size: int = 128) -> str:
    """A ``data:`` URI of a PNG thumbnail of ``path`` ("" when it cannot be read)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except OSError:
        return ""
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def write_html(path: str | Path, results: Sequence[tuple[str, str, object]], index: Path) -> None:
    """One self-contained page: per query its verdict and a table of hits with inline thumbnails."""
    cols = [c for c in ("rank", "obs_id", "title", "class", "score", "cosine") if c in results[0][2]] if results else []
    parts = ["<!doctype html><meta charset='utf-8'><title>skytext search</title>",
             "<style>body{font-family:sans-serif}td,th{padding:3px 8px;text-align:left}img{display:block}</style>"]
    for query, note, df in results:
        parts.append(f"<h2>{html.escape(query)}</h2><p>{html.escape(note)}</p><table><tr><th>image</th>"
                     + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        for r in df.to_dict("records"):
            src = _thumbnail(_resolve(r["path"], index))
            img = f"<img src='{src}' width='128' alt='{html.escape(str(r['obs_id']))}'>" if src else "(image missing)"
            cells = "".join(f"<td>{html.escape(f'{r[c]:.3f}' if isinstance(r[c], float) else str(r[c]))}</td>" for c in cols)
            parts.append(f"<tr><td>{img}</td>{cells}</tr>")
        parts.append("</table>")
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m skytext.search", description=main.__doc__)
    ap.add_argument("query", nargs="+", help="text query (several may be given)")
    ap.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    ap.add_argument("--index", required=True, help="index folder: images.npy, images.parquet, model.json")
    ap.add_argument("--model-json", default=None, help="model description (default: <index>/model.json)")
    ap.add_argument("--device", default="cpu", help="torch device (default cpu)")
    ap.add_argument("--templates", default=str(TEMPLATES_FILE), help="prompt templates, one a line with {}")
    ap.add_argument("--background", default=str(BACKGROUND_FILE), help="background phrases of the calibrated score")
    ap.add_argument("--raw", action="store_true", help="rank by the raw cosine of the query as typed")
    ap.add_argument("--threshold", type=float, default=None, help="calibrated score below which nothing matches")
    ap.add_argument("--calibration", default=None, help="search_eval JSON whose threshold to use")
    ap.add_argument("--html", default=None, help="also write a page with thumbnails to this file")
    return ap


def _print(query: str, note: str, df) -> None:
    cols = [c for c in ("rank", "obs_id", "score", "cosine", "title", "class", "path") if c in df]
    print(f"# {query}\n# {note}")
    print("\t".join(cols))
    for r in df[cols].itertuples(index=False):
        print("\t".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the best-matching observations of an index for one or more text queries.

    Queries are ensembled over prompt templates and scored by a calibrated score against background
    phrases (see :class:`Calibration`); below the threshold chosen on the val split (the search_eval rule),
    a query is reported as having no good match.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    index = Path(args.index)
    try:
        templates = None if args.raw else read_templates(args.templates)
        background = None if args.raw else read_lines(args.background)
        results = search_index(index, args.query, args.k, args.model_json, args.device,
                               templates=templates, background=background)
        root = find_results_root(index)
        threshold = read_threshold(args, root, index)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = []
    for text, df in zip(args.query, results):
        df = annotate(df, root)
        shown.append((text, verdict(float(df["score"].iloc[0]), threshold, not args.raw), df))
        _print(*shown[-1])
    if args.html:
        write_html(args.html, shown, index)
        print(f"# wrote {args.html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
