"""Anomaly scores in an embedding space (mean cosine distance to the k nearest neighbours, or an isolation
forest), the class surprise of a spectrum (how unlikely its catalogue class is given the spectrum, out of fold),
their combination over spaces (the largest robust z-score), and precision/recall of planted outliers among the
top ranks, beside the exact chance rate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SPACES = ("text", "class", "spectral", "shared")
UNKNOWN_CLASSES = {"", "unknown", "nan", "none"}


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


def robust_z(score: np.ndarray, by: np.ndarray | None = None, bins: int = 10) -> np.ndarray:
    """(score - median) / (1.4826 MAD), NaN scores set to 0; with ``by`` (e.g. log counts) within each of
    ``bins`` quantile bins of it, so a score is compared with sources alike in ``by`` (a faint spectrum's
    uncertain class is no surprise among faint spectra)."""
    score = np.asarray(score, np.float64)
    out = np.zeros(len(score))
    groups = np.zeros(len(score), int)
    if by is not None:
        by = np.asarray(by, np.float64)
        by = np.where(np.isfinite(by), by, np.nanmedian(by) if np.isfinite(by).any() else 0.0)
        edges = np.unique(np.quantile(by, np.linspace(0, 1, bins + 1)))
        groups = np.clip(np.searchsorted(edges, by, side="right") - 1, 0, max(len(edges) - 2, 0))
    for g in np.unique(groups):
        m = (groups == g) & np.isfinite(score)
        if m.sum() < 2:
            continue
        med = np.median(score[m])
        mad = 1.4826 * np.median(np.abs(score[m] - med))
        out[m] = (score[m] - med) / (mad if mad > 0 else max(np.std(score[m]), 1e-12))
    return out


def class_surprise(x: np.ndarray, labels, seed: int, folds: int = 5) -> np.ndarray | None:
    """-log p(catalogue class | spectrum) of every source, each predicted by a multinomial logistic regression
    on the spectral latent ``x`` trained without it (``folds``-fold, stratified): high when the spectrum looks
    like another class (a mislabelled source). NaN for sources of an unknown class or a class with fewer than
    ``folds`` members; ``None`` when fewer than two classes are usable."""
    lab = pd.Series(labels, dtype="object").astype(str).str.strip()
    counts = lab.value_counts()
    ok = ~lab.str.lower().isin(UNKNOWN_CLASSES) & lab.map(counts).ge(folds).to_numpy()
    ok = ok.to_numpy()
    out = np.full(len(lab), np.nan)
    if lab[ok].nunique() < 2:
        return None
    xs, ys = np.asarray(x, np.float64)[ok], lab[ok].to_numpy()
    p = np.empty(len(ys))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(xs, ys):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(xs[tr], ys[tr])
        prob = clf.predict_proba(xs[te])
        col = {c: i for i, c in enumerate(clf.classes_)}
        p[te] = [prob[i, col[c]] if c in col else 0.0 for i, c in enumerate(ys[te])]
    out[ok] = -np.log(np.clip(p, 1e-9, 1.0))
    return out


def combined(per_space: dict[str, np.ndarray], by: dict[str, np.ndarray | None] | None = None) -> np.ndarray:
    """One anomaly score over several spaces: for each source the largest of its robust z-scores
    (:func:`robust_z`, each space's within bins of ``by[space]`` when given), so a source far out in any one
    space ranks high, and a space whose top is no further out than its bulk adds nothing."""
    by = by or {}
    return np.max(np.stack([robust_z(v, by.get(k)) for k, v in per_space.items()]), axis=0)


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
                 texts: list[str], links: str, table_out: str, json_out: str, method: str, combine: list[str],
                 k: int, top_n: int, seed: int) -> None:
    """Rule spectra_outliers: anomaly rankings in the shared, spectral and text spaces, the class surprise of
    each spectrum, and their combination over the spaces in ``combine`` (``method`` combined: the default), the
    top ``top_n`` of the chosen ranking with a text each, and the planted outliers found by every ranking
    (demo)."""
    ids = pd.read_parquet(spectral_ids)
    src = pd.read_parquet(sources).set_index("source_id").loc[ids["source_id"]].reset_index()
    tmeta = pd.read_parquet(text_ids)
    rows = src.reset_index().set_index("source_id").loc[tmeta["source_id"], "index"].to_numpy()
    sub = src.iloc[rows].reset_index(drop=True)
    z = np.load(ensemble)
    latent = np.load(spectral)[rows]
    both = fused(z["spec"][rows], z["text"])
    shared = {"knn": scores(both, "knn", k, seed), "iforest": scores(both, "iforest", k, seed),
              "mismatch": mismatch(z["spec"][rows], z["text"])}
    unimodal = method if method in ("knn", "iforest") else "knn"
    single = {"shared": shared[method if method in shared else "knn"],
              "spectral": scores(latent, unimodal, k, seed),
              "text": scores(np.load(text), unimodal, k, seed)}
    surprise = class_surprise(latent, sub["class"], seed) if "class" in sub else None
    if surprise is not None:
        single["class"] = surprise
    elif method == "combined" and "class" in combine:
        print("class surprise: fewer than two catalogue classes with 5 sources; left out of the combination")
    counts = sub["src_cnts_aper_b"].to_numpy(np.float64) if "src_cnts_aper_b" in sub else None
    use = [c for c in combine if c in single]
    if method == "combined" and not use:
        raise ValueError(f"spectra.outliers.combine {combine}: no space could be scored (class surprise needs two "
                         "catalogue classes of 5 or more sources)")
    sc = {"ranking": (combined({c: single[c] for c in use}, {"class": counts}) if method == "combined"
                      else single["shared"]),
          **{n: np.nan_to_num(v, nan=np.nanmin(v) if np.isfinite(v).any() else 0.0) for n, v in single.items()}}
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
           "ranking": (f"the largest robust z-score (median/MAD) over {use} (class surprise within deciles of "
                       "src_cnts_aper_b)" if method == "combined" else f"the shared space's {method} score"),
           "spaces": {"text": ("mean cosine distance to the k nearest pooled whole-text paper embeddings "
                               "(embed/text_whole.npy)"),
                      "spectral": "mean cosine distance to the k nearest autoencoder latents",
                      "shared": "spectrum-tower and text-tower vectors of each source side by side (ensemble)",
                      "class": ("-log p(catalogue class | spectral latent), 5-fold out-of-fold logistic regression"
                                if surprise is not None else "not computed (fewer than two usable classes)")}}
    if "is_outlier" in tab and tab["is_outlier"].any():
        truth = tab["is_outlier"].to_numpy(bool)
        res.update(planted_metrics(sc, truth, top_n))
        res["shared_by_method"] = {m: precision_recall_at(v, truth, int(truth.sum()))[0] for m, v in shared.items()}
    Path(json_out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
