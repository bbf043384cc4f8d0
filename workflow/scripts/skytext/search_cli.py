"""``python -m skytext.search``: search an index folder of the image study from the command line::

    python -m skytext.search "globular cluster" --k 10 --index results/images/demo/embed/<model>/test [--html hits.html]
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


from skytext.eval.query import STOP_WORDS_FILE, TEMPLATES_FILE
from skytext.search import Searcher, find_results_root


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
    cols = [c for c in ("rank", "obs_id", "title", "class", "score") if c in results[0][2]] if results else []
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
    ap.add_argument("--chunk-size", type=int, default=8192, help="key rows per block of the exact search (memory only)")
    ap.add_argument("--templates", default=str(TEMPLATES_FILE), help="prompt templates, one a line with {}")
    ap.add_argument("--stop-words", default=str(STOP_WORDS_FILE), help="words left out of the lexical match")
    ap.add_argument("--n-anchors", type=int, default=None,
                    help="training captions a query is routed through (default: as the search_eval rule chose it)")
    ap.add_argument("--raw", action="store_true", help="rank by the raw cosine of the query as typed (no routing)")
    ap.add_argument("--threshold", type=float, default=None, help="match score below which nothing matches "
                    "(default: the search_eval rule's, from <results>/eval/search/<model>.json)")
    ap.add_argument("--html", default=None, help="also write a page with thumbnails to this file")
    return ap


def _print(query: str, note: str, df) -> None:
    cols = [c for c in ("rank", "obs_id", "score", "title", "class", "path") if c in df]
    print(f"# {query}\n# {note}")
    print("\t".join(cols))
    for r in df[cols].itertuples(index=False):
        print("\t".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the best-matching observations of an index for one or more text queries.

    Each query is routed through the training abstracts it shares words with (their mean embedding is
    searched) and gets "no good match" when its match score is below the threshold the search_eval rule
    chose on the val split; ``--raw`` searches the query as typed, with no verdict.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    index = Path(args.index)
    try:
        searcher = Searcher.open(index, device=args.device, chunk_size=args.chunk_size, model_json=args.model_json,
                                 anchors=[] if args.raw else None, threshold=args.threshold,
                                 n_anchors=1 if args.raw else args.n_anchors,
                                 templates=None if args.raw else args.templates, stop_words=args.stop_words)
        results = searcher.search(args.query, args.k)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root, shown = find_results_root(index), []
    for text, df in zip(args.query, results):
        note = "raw cosine of the query as typed (--raw): no verdict" if args.raw else df.attrs["verdict"]
        shown.append((text, note, annotate(df, root)))
        _print(*shown[-1])
    if args.html:
        write_html(args.html, shown, index)
        print(f"# wrote {args.html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
