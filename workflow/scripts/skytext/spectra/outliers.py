"""Anomaly scores in an embedding space (mean cosine distance to the k nearest neighbours, or an isolation
forest), their combination over spaces (each space's scores rank-normalised), and precision/recall of planted
outliers among the top ranks, beside the exact chance rate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import NearestNeighbors


def scores(x: np.ndarray, method: str, k: int, seed: int) -> np.ndarray:
    """Higher = more anomalous; ``x`` rows L2-normalised."""
    if method == "iforest":
        return -IsolationForest(random_state=seed, n_estimators=200).fit(x).score_samples(x)
    k = min(k, len(x) - 1)
    if k < 1:
        return np.zeros(len(x))
    dist, _ = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(x).kneighbors(x)
    return dist[:, 1:].mean(axis=1)


def precision_recall_at(score: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float]:
    """(precision, recall) of the planted outliers among the ``k`` highest scores (ties: stable order)."""
    truth = np.asarray(truth, bool)
    if k < 1 or truth.sum() == 0:
        return float("nan"), float("nan")
    top = np.argsort(-score, kind="stable")[:k]
    hits = int(truth[top].sum())
    return hits / k, hits / int(truth.sum())


def fused(shared_spec: np.ndarray, shared_text: np.ndarray) -> np.ndarray:
    """A source's point in the shared space: its spectrum and text tower vectors side by side, normalised
    (both towers of one source; disagreement between them moves it away from its neighbours)."""
    z = np.concatenate([shared_spec, shared_text], axis=1)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def mismatch(shared_spec: np.ndarray, shared_text: np.ndarray) -> np.ndarray:
    """Cross-modal disagreement in the shared space: the mean of (fraction of texts closer to a source's
    spectrum than its own text) and (fraction of spectra closer to its text than its own spectrum)."""
    sim = shared_spec @ shared_text.T
    own = np.diag(sim)
    n = len(sim)
    return 0.5 * ((sim > own[:, None]).sum(1) + (sim > own[None, :]).sum(0)) / max(n, 1)


def rank_normalised(score: np.ndarray) -> np.ndarray:
    """Scores as their rank fraction in (0, 1] (ties averaged): comparable across spaces of any scale."""
    return rankdata(score) / max(len(score), 1)


def combined(per_space: dict[str, np.ndarray]) -> np.ndarray:
    """One anomaly score over several spaces: each space's rank-normalised score, the largest of them (a
    source unusual in any one space ranks high; no space's scale dominates)."""
    return np.max(np.stack([rank_normalised(v) for v in per_space.values()]), axis=0)


def planted_metrics(sc: dict[str, np.ndarray], truth: np.ndarray, top_n: int) -> dict:
    """Precision and recall at n_planted and at ``top_n`` of every ranking, with the exact chance precision
    (n_planted / n: a random ranking's expected precision at any k)."""
    n, total = int(truth.sum()), len(truth)
    res = {"n_planted": n, "n_sources_ranked": total, "chance_precision": n / total}
    for k, v in sc.items():
        p, r = precision_recall_at(v, truth, n)
        p2, r2 = precision_recall_at(v, truth, top_n)
        res[k] = {f"precision_at_{n}": p, f"recall_at_{n}": r, f"found_at_{n}": int(round(r * n)),
                  f"precision_at_{top_n}": p2, f"recall_at_{top_n}": r2,
                  f"precision_over_chance_at_{n}": p / (n / total)}
    return res


def run_outliers(sources: str, spectral: str, spectral_ids: str, text: str, text_ids: str, ensemble: str,
                 texts: list[str], links: str, table_out: str, json_out: str, method: str, k: int, top_n: int,
                 seed: int) -> None:
    """Rule spectra_outliers: anomaly rankings in the shared, spectral and text spaces and their combination
    (``method`` combined: the default), the top ``top_n`` of the chosen ranking with a text each, and the
    planted outliers found by every ranking (demo)."""
    ids = pd.read_parquet(spectral_ids)
    src = pd.read_parquet(sources).set_index("source_id").loc[ids["source_id"]].reset_index()
    tmeta = pd.read_parquet(text_ids)
    rows = src.reset_index().set_index("source_id").loc[tmeta["source_id"], "index"].to_numpy()
    z = np.load(ensemble)
    both = fused(z["spec"][rows], z["text"])
    shared = {"knn": scores(both, "knn", k, seed), "iforest": scores(both, "iforest", k, seed),
              "mismatch": mismatch(z["spec"][rows], z["text"])}
    unimodal = method if method in ("knn", "iforest") else "knn"
    single = {"shared": shared[method if method in shared else "knn"],
              "spectral": scores(np.load(spectral)[rows], unimodal, k, seed),
              "text": scores(np.load(text), unimodal, k, seed)}
    sc = {"ranking": combined(single) if method == "combined" else single["shared"], **single}
    sub = src.iloc[rows].reset_index(drop=True)
    tx = pd.concat([pd.read_parquet(p) for p in texts]).set_index("text_id")["text"]
    first = pd.read_parquet(links).groupby("source_id")["text_id"].first()
    tab = pd.DataFrame({"source_id": sub["source_id"], "class": sub["class"], "split": sub["split"],
                        **{f"score_{n}": v for n, v in sc.items()},
                        **{f"rank_{n}": pd.Series(-v).rank(method="first").astype(int) for n, v in sc.items()}})
    for col in ("is_outlier", "outlier_type"):
        if col in sub:
            tab[col] = sub[col].to_numpy()
    tab["text"] = [str(tx.get(first.get(s, ""), ""))[:400] for s in tab["source_id"]]
    tab.sort_values("rank_ranking").head(top_n).to_csv(table_out, index=False)
    res = {"method": method, "unimodal_method": unimodal, "k": k, "n_sources": int(len(tab)),
           "population": "sources with at least one embedded paper, all splits (unsupervised)",
           "ranking": ("the largest of the shared, spectral and text scores, each rank-normalised" if method == "combined"
                       else f"the shared space's {method} score"),
           "shared_space": "spectrum-tower and text-tower vectors of each source side by side (ensemble)"}
    if "is_outlier" in tab and tab["is_outlier"].any():
        truth = tab["is_outlier"].to_numpy(bool)
        res.update(planted_metrics(sc, truth, top_n))
        res["shared_by_method"] = {m: precision_recall_at(v, truth, int(truth.sum()))[0] for m, v in shared.items()}
    Path(json_out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
