"""Retrieval evaluation from saved embeddings: image->text and text->image, plus baselines.

Conventions (stated in every result): candidates are de-duplicated per proposal -- several images share
one abstract, so image->text ranks each image's proposal text among the *unique* texts of the split, and
text->image ranks all images of the split for each text, counting the best-ranked image of its proposal.
Top-k % accuracy counts a query when its rank <= ceil(k/100 * n_candidates). Ties with the true partner are
resolved optimistically for models (continuous scores almost never tie) and by a seeded random draw for
the oracle.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from skytext.eval.metrics import random_summary, retrieval_summary
from skytext.eval.search import ranks_of_any_target, ranks_of_targets

CONVENTION = ("image->text: each image ranks the unique proposal texts of the split; text->image: each text "
              "ranks all images of the split, best image of its proposal counts; top-k% hit when rank <= "
              "ceil(k/100 * n_candidates)")


def pair_targets(image_pids: list[str], text_pids: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(text index of each image, image indices of each text), by proposal id."""
    pos = {p: i for i, p in enumerate(text_pids)}
    missing = sorted(set(image_pids) - set(pos))
    if missing:
        raise ValueError(f"{len(missing)} images have no text in the split, e.g. proposal {missing[0]}")
    img_of = pd.Series(np.arange(len(image_pids))).groupby(np.asarray(image_pids)).apply(np.asarray).to_dict()
    return np.asarray([pos[p] for p in image_pids]), [img_of.get(p, np.zeros(0, np.int64)) for p in text_pids]


def _histogram(counts) -> dict[str, int]:
    """``{"m": number of queries with m right answers}`` (keys in increasing m)."""
    values, n = np.unique(np.asarray(counts, dtype=np.int64), return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, n)}


def evaluate_ranks(i2t: np.ndarray, t2i: np.ndarray, n_texts: int, n_images: int, cfg: dict, seed: int,
                   images_per_text=None) -> dict:
    """Both directions' summaries; ``n_relevant`` records how many right answers the queries had (1 for
    image->text; ``images_per_text`` for text->image), which is what the random baseline needs."""
    kw = dict(recall_at=tuple(cfg["recall_at"]), n_boot=cfg["n_boot"], seed=seed)
    out = {"image_to_text": retrieval_summary(i2t, n_texts, **kw),
           "text_to_image": retrieval_summary(t2i, n_images, **kw),
           "convention": CONVENTION}
    out["image_to_text"]["n_relevant"] = _histogram(np.ones(len(i2t)))
    if images_per_text is not None:
        out["text_to_image"]["n_relevant"] = _histogram(images_per_text)
    return out


def evaluate_embeddings(img: np.ndarray, img_meta: pd.DataFrame, txt: np.ndarray, txt_meta: pd.DataFrame,
                        cfg: dict, seed: int) -> dict:
    """Both directions from L2-normalised embeddings and their id tables (rows aligned); ``cfg``: recall_at,
    n_boot, chunk_size."""
    if len(img) != len(img_meta) or len(txt) != len(txt_meta):
        raise ValueError("embeddings and their id tables differ in length")
    keep = img_meta["proposal_id"].isin(set(txt_meta["proposal_id"])).to_numpy()
    img, img_meta = img[keep], img_meta[keep].reset_index(drop=True)
    t_pids = txt_meta["proposal_id"].astype(str).tolist()
    has_img = pd.Series(t_pids).isin(set(img_meta["proposal_id"].astype(str))).to_numpy()
    txt, t_pids = txt[has_img], [p for p, h in zip(t_pids, has_img) if h]
    text_of_image, images_of_text = pair_targets(img_meta["proposal_id"].astype(str).tolist(), t_pids)
    i2t = ranks_of_targets(img, txt, text_of_image, chunk_size=cfg["chunk_size"], device="cpu")
    t2i = ranks_of_any_target(txt, img, images_of_text, chunk_size=cfg["chunk_size"], device="cpu")
    out = evaluate_ranks(i2t, t2i, len(txt), len(img), cfg, seed, [len(t) for t in images_of_text])
    out["dropped_images_without_text"] = int((~keep).sum())
    return out


def oracle_scores(a_class, a_attrs, b_class, b_attrs) -> np.ndarray:
    """Ground-truth similarity: 100 for the same class plus one per shared attribute value."""
    a_attr = [json.loads(x) if isinstance(x, str) and x else {} for x in a_attrs]
    b_attr = [json.loads(x) if isinstance(x, str) and x else {} for x in b_attrs]
    s = (np.asarray(a_class, dtype=object)[:, None] == np.asarray(b_class, dtype=object)[None, :]) * 100.0
    for i, ai in enumerate(a_attr):
        for j, bj in enumerate(b_attr):
            s[i, j] += sum(1 for k, v in ai.items() if bj.get(k) == v)
    return s


def _tiebroken_rank(scores: np.ndarray, target_sets: list[np.ndarray], seed: int) -> np.ndarray:
    """Rank of the best true candidate, ties broken by a seeded random draw (brute force; small inputs).

    Recall@1 and top-k % then read as one draw of an oracle that cannot tell tied candidates apart; an
    expected (mean) rank would instead make every tie miss Recall@1.
    """
    rng = np.random.default_rng(seed)
    jitter = rng.random(scores.shape) * 1e-3  # below the smallest score step (1)
    s = scores + jitter
    ranks = np.empty(len(s), dtype=np.int64)
    for q, ts in enumerate(target_sets):
        best = s[q, ts].max()
        others = np.ones(s.shape[1], bool)
        others[ts] = False
        ranks[q] = 1 + int((s[q, others] > best).sum())
    return ranks


def oracle(images: pd.DataFrame, proposals: pd.DataFrame, cfg: dict, seed: int) -> dict | None:
    """What a model that knows each image's ground-truth class and attributes would reach (demo only)."""
    if "gt_class" not in images or images["gt_class"].isna().all():
        return None
    props = proposals[proposals["proposal_id"].isin(set(images["proposal_id"]))].reset_index(drop=True)
    text_of_image, images_of_text = pair_targets(images["proposal_id"].astype(str).tolist(), props["proposal_id"].astype(str).tolist())
    s = oracle_scores(images["gt_class"], images["gt_attrs"], props["gt_class"], props["gt_attrs"])
    i2t = _tiebroken_rank(s, [np.asarray([t]) for t in text_of_image], seed)
    t2i = _tiebroken_rank(s.T, images_of_text, seed + 1)
    return evaluate_ranks(i2t, t2i, len(props), len(images), cfg, seed, [len(t) for t in images_of_text])


def random_result(n_texts: int, n_images: int, images_per_text, cfg: dict, seed: int) -> dict:
    """The ``random`` row: :func:`skytext.eval.metrics.random_summary` in both directions, same contract as a
    model's result (``n_queries``, exact expected metrics, intervals of a random ranker on these queries).

    ``images_per_text``: the number of images of each text's proposal (a list, or a ``{"m": n_texts}``
    histogram as in a model result's ``text_to_image.n_relevant``); chance is computed per text from it,
    not from the average (which understates it: 0.346 instead of 0.376 on 3-6 images of 210).
    """
    if isinstance(images_per_text, dict):
        images_per_text = np.repeat([int(m) for m in images_per_text], [int(n) for n in images_per_text.values()])
    m = np.asarray(images_per_text, dtype=np.int64)
    if len(m) != n_texts or int(m.sum()) != n_images:
        raise ValueError(f"{len(m)} texts with {int(m.sum())} images in all, but {n_texts} texts and {n_images} images")
    kw = dict(recall_at=tuple(cfg["recall_at"]), n_boot=cfg["n_boot"], seed=seed)
    i2t = random_summary(n_texts, np.ones(int(m.sum()), dtype=np.int64), **kw)
    t2i = random_summary(n_images, m, **kw)
    i2t["n_relevant"], t2i["n_relevant"] = _histogram(np.ones(int(m.sum()))), _histogram(m)
    return {"image_to_text": i2t, "text_to_image": t2i, "convention": CONVENTION,
            "method": "exact expectation under random ranking (hypergeometric); intervals: simulated random rankings"}


def comparison_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per (model, caption): the headline numbers with their intervals."""
    rows = []
    for name, r in results.items():
        row = {"model": name}
        for direction, short in (("image_to_text", "i2t"), ("text_to_image", "t2i")):
            d = r[direction]
            row[f"{short}_top10pct"] = d.get("top10pct")
            ci = d.get("top10pct_ci")
            row[f"{short}_top10pct_lo"], row[f"{short}_top10pct_hi"] = (ci if ci else (None, None))
            for k in ("1", "5", "10"):
                row[f"{short}_R@{k}"] = (d.get("recall_at") or {}).get(k)
            row[f"{short}_median_rank"] = d.get("median_rank")
            row[f"{short}_n_queries"] = d.get("n_queries")
            row[f"{short}_n_candidates"] = d.get("n_candidates")
        rows.append(row)
    return pd.DataFrame(rows)
