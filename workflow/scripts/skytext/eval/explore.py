"""Looking inside a model's embedding space: description retrieval, query galleries, similarity histograms.

* Description retrieval (PAPERCLIP): every image ranks a curated list of astrophysical phrases
  (``resources/vocab/descriptions.txt``); on the demo sky the accuracy against the true class is reported.
* Image retrieval for text queries (``resources/vocab/queries.txt``): galleries of the top images.
* Cosine similarity of true image-text pairs against shuffled pairs.

(Search quality, once here, is :func:`skytext.eval.query.search_evaluation`, the ``search_eval`` rule's.)
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from skytext.eval.search import topk  # noqa: E402

DEMO_CLASS_PHRASES = {
    "spiral": "spiral galaxies", "elliptical": "elliptical galaxies", "globular": "globular clusters",
    "lens": "strong gravitational lensing arcs", "nebula": "emission nebulae",
    "planet": "planets in the solar system", "open": "open star clusters", "field": "star fields",
}


def describe(img: np.ndarray, meta: pd.DataFrame, phrases: list[str], phrase_emb: np.ndarray, k: int,
             chunk_size: int) -> pd.DataFrame:
    """Top-``k`` descriptions of every image: obs_id, rank, description, score (+ gt_class when known); the
    images are searched ``chunk_size`` at a time (on the CPU: a few hundred phrases)."""
    scores, idx = topk(img.astype(np.float32), phrase_emb.astype(np.float32), k, chunk_size, "cpu")
    rows = []
    for i, (s, j) in enumerate(zip(scores, idx)):
        for r in range(len(j)):
            rows.append({"obs_id": meta["obs_id"].iloc[i], "rank": r + 1, "description": phrases[j[r]],
                         "score": float(s[r]),
                         "gt_class": meta["gt_class"].iloc[i] if "gt_class" in meta else None})
    return pd.DataFrame(rows)


def class_accuracy(top: pd.DataFrame, n_phrases: int) -> dict | None:
    """Fraction of demo images whose true-class phrase is the top-1 / within the top-5 of ``n_phrases``."""
    if "gt_class" not in top or top["gt_class"].isna().all():
        return None
    want = top["gt_class"].map(DEMO_CLASS_PHRASES)
    hit = top.assign(hit=top["description"] == want)
    per = hit.groupby("obs_id").agg(top1=("hit", lambda h: bool(h.iloc[0])), top5=("hit", "any"))
    return {"top1": float(per["top1"].mean()), "top5": float(per["top5"].mean()), "n_images": int(len(per)),
            "chance_top1": 1.0 / n_phrases, "chance_top5": min(1.0, 5.0 / n_phrases)}


def gallery(img: np.ndarray, meta: pd.DataFrame, queries: list[str], query_emb: np.ndarray, path: str, k: int,
            chunk_size: int, tile: int = 96) -> None:
    """One PNG: a row per query (its text on the left), its ``k`` best images with their cosine scores.

    Drawn straight onto one canvas with PIL: a matplotlib grid of hundreds of axes takes seconds per job.
    """
    from PIL import ImageDraw, ImageFont

    scores, idx = topk(query_emb.astype(np.float32), img.astype(np.float32), k, chunk_size, "cpu")
    font = ImageFont.load_default(size=11)
    label_w, pad, score_h = 260, 4, 14
    row_h = tile + score_h + pad
    canvas = Image.new("RGB", (label_w + k * (tile + pad) + pad, pad + len(queries) * row_h), "white")
    draw = ImageDraw.Draw(canvas)
    for q, query in enumerate(queries):
        y = pad + q * row_h
        draw.multiline_text((pad, y + tile // 3), _wrap(query, 38), fill="black", font=font)
        for c in range(min(k, idx.shape[1])):
            x = label_w + pad + c * (tile + pad)
            with Image.open(meta["path"].iloc[idx[q, c]]) as im:
                canvas.paste(im.convert("RGB").resize((tile, tile), Image.Resampling.BILINEAR), (x, y))
            draw.text((x + 2, y + tile + 1), f"{scores[q, c]:.2f}", fill="black", font=font)
    canvas.save(path)


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in str(text).split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])


def pair_similarities(img: np.ndarray, img_pids: list[str], txt: np.ndarray, txt_pids: list[str], seed: int):
    """(true-pair cosines, shuffled-pair cosines) for every image with a text; the shuffled partner is
    another text drawn with ``seed``."""
    pos = {p: i for i, p in enumerate(txt_pids)}
    keep = [i for i, p in enumerate(img_pids) if p in pos]
    true_t = np.asarray([pos[img_pids[i]] for i in keep])
    rng = np.random.default_rng(seed)
    other = (true_t + rng.integers(1, max(2, len(txt_pids)), len(true_t))) % len(txt_pids)
    im = img[keep].astype(np.float32)
    return (im * txt[true_t]).sum(1), (im * txt[other]).sum(1)


def similarity_histogram(true: np.ndarray, shuffled: np.ndarray, path: str, title: str = "") -> None:
    """A PNG at ``path``: density histograms of the true and the shuffled pair cosines."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.linspace(min(true.min(), shuffled.min()), max(true.max(), shuffled.max()), 40)
    ax.hist(shuffled, bins, alpha=0.6, label="shuffled pairs", density=True)
    ax.hist(true, bins, alpha=0.6, label="true pairs", density=True)
    ax.set_xlabel("cosine similarity"), ax.set_ylabel("density"), ax.set_title(title, fontsize=9), ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
