"""Looking inside a model's embedding space: description retrieval, query galleries, similarity histograms.

* Description retrieval (PAPERCLIP): every image ranks a curated list of astrophysical phrases
  (``resources/vocab/descriptions.txt``); on the demo sky the accuracy against the true class is reported.
* Image retrieval for text queries (``resources/vocab/queries.txt``): galleries of the top images.
* Cosine similarity of true image-text pairs against shuffled pairs.
* Search quality (:func:`search_evaluation`): precision@10 of one fixed query per demo class, with prompt
  templates and the calibrated score of :mod:`skytext.eval.search`, and the "no good match" threshold chosen
  on the val split against off-topic queries.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from skytext.eval.query import Calibration, choose_threshold, encode_queries  # noqa: E402
from skytext.eval.search import topk  # noqa: E402

DEMO_CLASS_PHRASES = {
    "spiral": "spiral galaxies", "elliptical": "elliptical galaxies", "globular": "globular clusters",
    "lens": "strong gravitational lensing arcs", "nebula": "emission nebulae",
    "planet": "planets in the solar system", "open": "open star clusters", "field": "star fields",
}


# the fixed class queries of the search evaluation: how a person would type them (singular, no article)
DEMO_CLASS_QUERIES = {
    "spiral": "spiral galaxy", "elliptical": "elliptical galaxy", "globular": "globular cluster",
    "lens": "gravitational lens", "nebula": "emission nebula", "planet": "giant planet", "open": "open cluster",
    "field": "star field",
}
SEARCH_K = 10


def describe(img: np.ndarray, meta: pd.DataFrame, phrases: list[str], phrase_emb: np.ndarray, k: int = 5) -> pd.DataFrame:
    """Top-``k`` descriptions of every image: obs_id, rank, description, score (+ gt_class when known)."""
    scores, idx = topk(img.astype(np.float32), phrase_emb.astype(np.float32), k)
    rows = []
    for i, (s, j) in enumerate(zip(scores, idx)):
        for r in range(len(j)):
            rows.append({"obs_id": meta["obs_id"].iloc[i], "rank": r + 1, "description": phrases[j[r]], "score": float(s[r]),
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


def gallery(img: np.ndarray, meta: pd.DataFrame, queries: list[str], query_emb: np.ndarray, path: str, k: int = 8,
            tile: int = 96) -> None:
    """One PNG: a row per query (its text on the left), its ``k`` best images with their cosine scores.

    Drawn straight onto one canvas with PIL: a matplotlib grid of hundreds of axes takes seconds per job.
    """
    from PIL import ImageDraw, ImageFont

    scores, idx = topk(query_emb.astype(np.float32), img.astype(np.float32), k)
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


def pair_similarities(img: np.ndarray, img_pids: list[str], txt: np.ndarray, txt_pids: list[str], seed: int = 0):
    """(true-pair cosines, shuffled-pair cosines) for every image."""
    pos = {p: i for i, p in enumerate(txt_pids)}
    keep = [i for i, p in enumerate(img_pids) if p in pos]
    true_t = np.asarray([pos[img_pids[i]] for i in keep])
    rng = np.random.default_rng(seed)
    other = (true_t + rng.integers(1, max(2, len(txt_pids)), len(true_t))) % len(txt_pids)
    im = img[keep].astype(np.float32)
    return (im * txt[true_t]).sum(1), (im * txt[other]).sum(1)


def similarity_histogram(true: np.ndarray, shuffled: np.ndarray, path: str, title: str = "") -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.linspace(min(true.min(), shuffled.min()), max(true.max(), shuffled.max()), 40)
    ax.hist(shuffled, bins, alpha=0.6, label="shuffled pairs", density=True)
    ax.hist(true, bins, alpha=0.6, label="true pairs", density=True)
    ax.set_xlabel("cosine similarity"), ax.set_ylabel("density"), ax.set_title(title, fontsize=9), ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- search quality
def _best(cal: Calibration, q: np.ndarray, index: tuple) -> np.ndarray:
    return cal.search(q, index[0], 1)[0][:, 0]


def _precision(idx: np.ndarray, meta: pd.DataFrame, gt: dict | None, classes: list[str]) -> list[float | None]:
    if gt is None:
        return [None] * len(classes)
    true = meta["obs_id"].map(gt).to_numpy()
    return [float(np.mean(true[i] == c)) for i, c in zip(idx, classes)]


def search_evaluation(model, tokenizer, val: tuple, test: tuple, gt: dict | None, templates: list[str],
                      background: list[str], null_queries: list[str], device: str = "cpu") -> dict:
    """Search quality of one model: the :data:`DEMO_CLASS_QUERIES` on the test index, precision@10 against
    the true class (demo; ``None`` without ground truth), as typed with raw cosines (``*_raw``) and with
    prompt templates and the calibrated score; the match threshold is chosen on the val index so that the
    class queries' best scores stand above the off-topic ``null_queries``' (:func:`choose_threshold`).

    ``val``/``test``: ``(embeddings [n, d], ids with obs_id)``; ``gt``: obs_id -> true class or ``None``.
    """
    classes, queries = list(DEMO_CLASS_QUERIES), list(DEMO_CLASS_QUERIES.values())
    cal = Calibration.from_embeddings(encode_queries(model, tokenizer, background, templates, device))
    q = encode_queries(model, tokenizer, queries, templates, device)
    null = encode_queries(model, tokenizer, null_queries, templates, device)
    threshold = choose_threshold(_best(cal, q, val), _best(cal, null, val))
    z, idx, cos = cal.search(q, test[0], SEARCH_K)
    raw_s, raw_i = topk(encode_queries(model, tokenizer, queries, device=device), test[0], SEARCH_K)
    p, p_raw = _precision(idx, test[1], gt, classes), _precision(raw_i, test[1], gt, classes)
    true = test[1]["obs_id"].map(gt).tolist() if gt is not None else [None] * len(test[1])
    rows = [{"class": c, "query": qq, "precision_at_10": p[j], "precision_at_10_raw": p_raw[j],
             "best_score": float(z[j, 0]), "best_cosine": float(cos[j, 0]), "match": bool(z[j, 0] >= threshold),
             "best_raw_cosine": float(raw_s[j, 0]), "hits": test[1]["obs_id"].iloc[idx[j]].tolist(),
             "hit_classes": [true[i] for i in idx[j]]} for j, (c, qq) in enumerate(DEMO_CLASS_QUERIES.items())]  # fmt: skip
    null_test = _best(cal, null, test)
    return {"k": SEARCH_K, "queries": rows, "threshold": threshold, "threshold_split": "val",
            "mean_precision_at_10": None if gt is None else float(np.mean(p)),
            "mean_precision_at_10_raw": None if gt is None else float(np.mean(p_raw)),
            "class_match_rate": float(np.mean([r["match"] for r in rows])),
            "null_match_rate": float(np.mean(null_test >= threshold)),
            "null_best_scores": {q_: float(v) for q_, v in zip(null_queries, null_test)},
            "templates": list(templates), "n_background": len(background), "n_null_queries": len(null_queries),
            "score": "calibrated: (q.x - mean_b b.x) / std_b b.x over the background phrases b, per image x"}


def search_table_row(result: dict) -> dict:
    """One CSV row per model for the comparison table and the report: precision@10 per class and mean (with
    templates and calibration; the raw mean beside it), the threshold and the match rates."""
    row = {"model": result.get("model")}
    for r in result["queries"]:
        row[f"p10_{r['class']}"] = r["precision_at_10"]
    row.update(p10_mean=result["mean_precision_at_10"], p10_mean_raw=result["mean_precision_at_10_raw"],
               threshold=result["threshold"], class_match_rate=result["class_match_rate"],
               null_match_rate=result["null_match_rate"])
    return row
