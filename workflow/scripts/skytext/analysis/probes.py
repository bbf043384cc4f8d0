"""What an embedding knows: zero-shot kNN (AstroCLIP: train-standardised embeddings,
``KNeighborsRegressor(n_neighbors=64, weights="distance")``), linear (ridge / logistic) and MLP probes, for
regression (R², MAE) and classification (accuracy, balanced accuracy), each with a percentile bootstrap CI
over the test objects (the engine's resampler, :mod:`skytext.eval.metrics`). The linear probes choose their
regularisation on the train split from the grid ``ridge_alphas``: one ``RidgeCV`` (efficient leave-one-out,
an alpha per property) for every property of a group, ``LogisticRegressionCV`` (3-fold, C = 1/alpha) per class
column; a fixed alpha of 1 let 768 dimensions fit noise (R² -0.6 on a pure-noise property). The MLP is
fitted per property on standardised targets (a joint multi-output MLP fitted the noise properties too and
scored z R² 0.55 where ridge scored 0.98), with the L2 penalty from ``mlp_alphas`` that scores best on its
early-stopping validation objects.

Neighbours are searched once per group of properties that are present on the same objects and reused by
every property of the group; the search runs in faiss (exact, flat index) or scikit-learn (brute force).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skytext.eval.metrics import _bootstrap

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------
# nearest neighbours
# ---------------------------------------------------------------------------------------------------------

def have_faiss() -> bool:
    """Whether faiss can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows left as they are), float32."""
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(n > 0, n, 1.0)).astype(np.float32)


def knn_search(train: np.ndarray, query: np.ndarray, k: int, metric: str, backend: str,
               exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices) ``[nq, k]`` of the ``k`` nearest ``train`` rows of each ``query`` row, nearest first.

    ``metric`` euclidean (distances) or cosine (``1 - cos``). ``exclude_self`` (query = train) drops each
    row's own index. ``backend`` auto = faiss when installed, else scikit-learn.
    """
    k_eff = min(k + int(exclude_self), len(train))
    a, b = np.ascontiguousarray(train, np.float32), np.ascontiguousarray(query, np.float32)
    if metric == "cosine":
        a, b = normalise(a), normalise(b)
    use_faiss = backend == "faiss" or (backend == "auto" and have_faiss())
    if use_faiss:
        import faiss

        index = faiss.IndexFlatIP(a.shape[1]) if metric == "cosine" else faiss.IndexFlatL2(a.shape[1])
        index.add(a)
        d, idx = index.search(b, k_eff)
        d = 1.0 - d if metric == "cosine" else np.sqrt(np.maximum(d, 0.0))
    else:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k_eff, algorithm="brute", metric=metric).fit(a)
        d, idx = nn.kneighbors(b)
    d, idx = d.astype(np.float64), idx.astype(np.int64)
    if exclude_self:
        own = idx == np.arange(len(idx))[:, None]
        keep = ~own
        keep[own.sum(1) == 0, -1] = False  # self not found (ties): drop the farthest instead
        d = d[keep].reshape(len(idx), k_eff - 1)
        idx = idx[keep].reshape(len(idx), k_eff - 1)
    return d, idx


def neighbour_weights(dist: np.ndarray, weights: str) -> np.ndarray:
    """scikit-learn's weights: uniform, or 1/d where an exact match (d = 0) takes all the weight of its row."""
    if weights == "uniform":
        return np.ones_like(dist)
    with np.errstate(divide="ignore"):
        w = 1.0 / dist
    zero = dist == 0
    rows = zero.any(axis=1)
    w[rows] = zero[rows].astype(np.float64)
    return w


def knn_regress(dist, idx, y_train: np.ndarray, weights: str) -> np.ndarray:
    """kNN regression: the (weighted) mean of the neighbours' values."""
    w = neighbour_weights(dist, weights)
    return (w * y_train[idx]).sum(axis=1) / w.sum(axis=1)


def knn_classify(dist, idx, codes_train: np.ndarray, n_classes: int, weights: str) -> np.ndarray:
    """kNN classification: the class with the largest (weighted) vote among the neighbours."""
    w = neighbour_weights(dist, weights)
    votes = np.zeros((len(idx), n_classes))
    np.add.at(votes, (np.repeat(np.arange(len(idx)), idx.shape[1]), codes_train[idx].ravel()), w.ravel())
    return votes.argmax(axis=1)


# ---------------------------------------------------------------------------------------------------------
# scores with bootstrap intervals
# ---------------------------------------------------------------------------------------------------------

def _regression_stats(y: np.ndarray, p: np.ndarray):
    def stats(idx: np.ndarray) -> np.ndarray:
        """[..., (R², MAE)] over the resampled rows ``idx``."""
        yt, yp = y[idx], p[idx]
        ss_res = ((yt - yp) ** 2).sum(-1)
        ss_tot = ((yt - yt.mean(-1, keepdims=True)) ** 2).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)
        return np.stack([r2, np.abs(yt - yp).mean(-1)], -1)

    return stats


def _classification_stats(y: np.ndarray, p: np.ndarray, n_classes: int):
    onehot = np.eye(n_classes, dtype=bool)

    def stats(idx: np.ndarray) -> np.ndarray:
        """[..., (accuracy, balanced accuracy)] over the resampled rows ``idx``."""
        yt, yp = y[idx], p[idx]
        hit = yt == yp
        support = onehot[yt].sum(-2)  # [..., classes]
        hits = (onehot[yt] & hit[..., None]).sum(-2)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(support > 0, hits / np.maximum(support, 1), np.nan)
        return np.stack([hit.mean(-1), np.nanmean(recall, -1)], -1)

    return stats


def scores(task: str, y: np.ndarray, p: np.ndarray, n_boot: int, seed: int, ci: float, n_classes: int = 0):
    """{metric: (value, lo, hi)}: R²/MAE (regression) or accuracy/balanced accuracy (classification)."""
    if task == "regression":
        stats, names = _regression_stats(y, p), ["r2", "mae"]
    else:
        stats, names = _classification_stats(y, p, n_classes), ["accuracy", "balanced_accuracy"]
    point = stats(np.arange(len(y))[None, :])[0]
    if n_boot > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            samples = _bootstrap(np.arange(len(y)), stats, int(n_boot), seed)
            samples = np.where(np.isfinite(samples), samples, np.nan)
            lo = np.nanquantile(samples, (1 - ci) / 2, axis=0)
            hi = np.nanquantile(samples, 1 - (1 - ci) / 2, axis=0)
        bounds = list(zip(lo.tolist(), hi.tolist()))
    else:
        bounds = [(np.nan, np.nan)] * len(names)
    return {n: (float(point[i]), float(bounds[i][0]), float(bounds[i][1])) for i, n in enumerate(names)}


# ---------------------------------------------------------------------------------------------------------
# probes
# ---------------------------------------------------------------------------------------------------------

@dataclass
class Task:
    """One probe target: a property (regression) or a class column (classification), over all objects."""

    name: str
    kind: str  # regression | classification
    y: np.ndarray  # float (NaN = missing) or int codes (-1 = missing)
    labels: list | None = None

    @property
    def present(self) -> np.ndarray:
        """Which objects have a value."""
        return np.isfinite(self.y) if self.kind == "regression" else self.y >= 0


def tasks_of(objects: pd.DataFrame, properties: list[str], classes: list[str]) -> list[Task]:
    """The regression task of every property and the classification task of every class column."""
    out = [Task(p, "regression", objects[p].to_numpy(np.float64)) for p in properties]
    for c in classes:
        values = objects[c].astype("string")
        labels = sorted(values.dropna().unique().tolist())
        codes = values.map({v: i for i, v in enumerate(labels)}).astype("Int64").fillna(-1).to_numpy(np.int64)
        out.append(Task(c, "classification", codes, labels))
    return out


def _standardise(X: np.ndarray, train: np.ndarray, on: bool) -> np.ndarray:
    if not on:
        return X.astype(np.float32)
    mu, sd = X[train].mean(0), X[train].std(0)
    return ((X - mu) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def _mlp(kind: str, Z: np.ndarray, y: np.ndarray, cfg: dict, seed: int):
    """The MLP fitted on (Z, y) whose L2 penalty from ``mlp_alphas`` scores best on its early-stopping
    validation part (the same seeded 10 % of the objects for every alpha)."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPRegressor if kind == "regression" else MLPClassifier
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for alpha in cfg["mlp_alphas"]:
            model = cls(hidden_layer_sizes=tuple(cfg["mlp_hidden"]), alpha=alpha, max_iter=cfg["mlp_max_iter"],
                        early_stopping=True, random_state=seed).fit(Z, y)
            if best is None or model.best_validation_score_ > best.best_validation_score_:
                best = model
    return best


def _fit_predict(method: str, task: Task, Z, tr, te, cfg: dict, seed: int, nn=None) -> np.ndarray:
    """Predictions for the rows ``te`` from a model of ``method`` fitted on the rows ``tr``."""
    if method == "knn":
        dist, idx = nn
        if task.kind == "regression":
            return knn_regress(dist, idx, task.y[tr], cfg["knn_weights"])
        return knn_classify(dist, idx, task.y[tr], len(task.labels), cfg["knn_weights"])
    if method == "linear":
        from sklearn.linear_model import LogisticRegressionCV

        if task.kind == "regression":
            return _ridge({task.name: task}.values(), Z, tr, te, cfg["ridge_alphas"])[0][task.name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LogisticRegressionCV(Cs=[1.0 / a for a in cfg["ridge_alphas"]], cv=3, max_iter=500)
            return model.fit(Z[tr], task.y[tr]).predict(Z[te])
    few = _few(tr, cfg, seed)
    if task.kind == "regression":  # one MLP per property, on its standardised values
        mu, sd = task.y[few].mean(), task.y[few].std() or 1.0
        return _mlp("regression", Z[few], (task.y[few] - mu) / sd, cfg, seed).predict(Z[te]) * sd + mu
    return _mlp("classification", Z[few], task.y[few], cfg, seed).predict(Z[te])


def _few(tr: np.ndarray, cfg: dict, seed: int) -> np.ndarray:
    """The MLP's training objects: all train objects, or a seeded ``mlp_max_train`` of them (few-shot)."""
    if len(tr) <= cfg["mlp_max_train"]:
        return tr
    return np.sort(np.random.default_rng(seed).choice(tr, cfg["mlp_max_train"], replace=False))


def _ridge(regs, Z, tr, te, alphas: list[float]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Test predictions and chosen alpha per property: one RidgeCV (leave-one-out, an alpha per property)."""
    from sklearn.linear_model import RidgeCV

    regs = list(regs)
    Y = np.stack([t.y[tr] for t in regs], axis=1)
    model = RidgeCV(alphas=list(alphas), alpha_per_target=True).fit(Z[tr], Y)
    P = model.predict(Z[te]).reshape(len(te), -1)
    chosen = np.broadcast_to(np.atleast_1d(model.alpha_), (len(regs),))
    return {t.name: P[:, j] for j, t in enumerate(regs)}, {t.name: float(a) for t, a in zip(regs, chosen)}


def _alpha_notes(alphas: dict[str, float], grid: list[float]) -> list[str]:
    """Log the ridge alpha chosen per property; a note where it sits at an end of the grid."""
    log.info("ridge alpha chosen per property: %s", alphas)
    notes = []
    for name, a in alphas.items():
        if len(grid) > 1 and a == max(grid):
            notes.append(f"{name}: ridge alpha {a:g}, the largest of analysis.probes.ridge_alphas: little or no "
                         "linear signal")
        elif len(grid) > 1 and a == min(grid):
            notes.append(f"{name}: ridge alpha {a:g}, the smallest of analysis.probes.ridge_alphas: extend the grid")
    return notes


def _groups(tasks: list[Task]) -> dict[bytes, list[Task]]:
    """Tasks grouped by the objects they are present on (one neighbour search per group)."""
    out: dict[bytes, list[Task]] = {}
    for t in tasks:
        out.setdefault(np.packbits(t.present).tobytes(), []).append(t)
    return out


def run_probes(X: np.ndarray, objects: pd.DataFrame, properties: list[str], classes: list[str], cfg: dict,
               seed: int, set_name: str = "") -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(scores, test predictions, notes) of every method in ``cfg["methods"]`` on every property and class.

    ``objects`` carries ``split`` (train/test) row-aligned with ``X``. A task with fewer than
    ``min_objects`` train or test values (or one class) is skipped with a note, never scored on nothing.
    """
    split = objects["split"].to_numpy()
    Z = _standardise(X, split == "train", cfg["standardise"])
    rows, preds, notes = [], [], []
    for group in _groups(tasks_of(objects, properties, classes)).values():
        present = group[0].present
        tr, te = np.flatnonzero(present & (split == "train")), np.flatnonzero(present & (split == "test"))
        if min(len(tr), len(te)) < cfg["min_objects"]:
            notes += [f"{t.name}: {len(tr)} train / {len(te)} test objects (< {cfg['min_objects']}): not scored"
                      for t in group]
            continue
        nn = None
        if "knn" in cfg["methods"]:
            t0 = time.perf_counter()
            nn = knn_search(Z[tr], Z[te], cfg["knn_k"], cfg["knn_metric"], cfg["knn_backend"])
            log.info("%s: neighbours of %d test among %d train objects in %.1fs", set_name, len(te), len(tr),
                     time.perf_counter() - t0)
        ridge = {}
        regs = [t for t in group if t.kind == "regression"]
        if "linear" in cfg["methods"] and regs:  # one RidgeCV = the separate fits, an alpha per property
            ridge, alphas = _ridge(regs, Z, tr, te, cfg["ridge_alphas"])
            notes += _alpha_notes(alphas, cfg["ridge_alphas"])
        for task in group:
            if task.kind == "classification" and len(np.unique(task.y[tr])) < 2:
                notes.append(f"{task.name}: one class among the train objects: not scored")
                continue
            for method in cfg["methods"]:
                t0 = time.perf_counter()
                if method == "linear" and task.name in ridge:
                    p = ridge[task.name]
                else:
                    p = _fit_predict(method, task, Z, tr, te, cfg, seed, nn)
                n_cls = len(task.labels) if task.labels else 0
                for metric, (v, lo, hi) in scores(task.kind, task.y[te], p, cfg["n_boot"], seed, cfg["ci"],
                                                  n_cls).items():
                    rows.append({"set": set_name, "property": task.name, "task": task.kind, "method": method,
                                 "metric": metric, "value": v, "ci_lo": lo, "ci_hi": hi, "n_train": len(tr),
                                 "n_test": len(te), "seconds": round(time.perf_counter() - t0, 3)})
                preds.append(pd.DataFrame({"id": objects["id"].to_numpy()[te], "property": task.name,
                                           "method": method, "y_true": task.y[te].astype(np.float64),
                                           "y_pred": np.asarray(p, dtype=np.float64)}))
    columns = ["set", "property", "task", "method", "metric", "value", "ci_lo", "ci_hi", "n_train", "n_test",
               "seconds"]
    pred = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(
        {"id": pd.Series(dtype=objects["id"].dtype), "property": pd.Series(dtype=str),
         "method": pd.Series(dtype=str), "y_true": pd.Series(dtype=float), "y_pred": pd.Series(dtype=float)})
    return pd.DataFrame(rows, columns=columns), pred, notes
