"""What an embedding knows: zero-shot kNN (AstroCLIP: train-standardised embeddings,
``KNeighborsRegressor(n_neighbors=64, weights="distance")``), linear (ridge / logistic) and MLP probes, for
regression (R², MAE) and classification (accuracy, balanced accuracy), each with a percentile bootstrap CI
over the test objects (the engine's resampler, :mod:`skytext.eval.metrics`). The ridge and the MLP fit every
property of a group at once (multi-output: the ridge equals separate fits; the MLP shares its hidden layer,
as AstroCLIP's property MLP); classes get one logistic / MLP classifier each.

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
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def normalise(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(n > 0, n, 1.0)).astype(np.float32)


def knn_search(train: np.ndarray, query: np.ndarray, k: int, metric: str = "euclidean", backend: str = "auto",
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
    w = neighbour_weights(dist, weights)
    return (w * y_train[idx]).sum(axis=1) / w.sum(axis=1)


def knn_classify(dist, idx, codes_train: np.ndarray, n_classes: int, weights: str) -> np.ndarray:
    w = neighbour_weights(dist, weights)
    votes = np.zeros((len(idx), n_classes))
    np.add.at(votes, (np.repeat(np.arange(len(idx)), idx.shape[1]), codes_train[idx].ravel()), w.ravel())
    return votes.argmax(axis=1)


# ---------------------------------------------------------------------------------------------------------
# scores with bootstrap intervals
# ---------------------------------------------------------------------------------------------------------

def _regression_stats(y: np.ndarray, p: np.ndarray):
    def stats(idx: np.ndarray) -> np.ndarray:
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
    name: str
    kind: str  # regression | classification
    y: np.ndarray  # float (NaN = missing) or int codes (-1 = missing)
    labels: list | None = None

    @property
    def present(self) -> np.ndarray:
        return np.isfinite(self.y) if self.kind == "regression" else self.y >= 0


def tasks_of(objects: pd.DataFrame, properties: list[str], classes: list[str]) -> list[Task]:
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


def _mlp(kind: str, cfg: dict, seed: int):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPRegressor if kind == "regression" else MLPClassifier
    return cls(hidden_layer_sizes=tuple(cfg["mlp_hidden"]), max_iter=cfg["mlp_max_iter"], early_stopping=True,
               random_state=seed)


def _fit_predict(method: str, task: Task, Z, tr, te, cfg: dict, seed: int, nn=None) -> np.ndarray:
    """Predictions for the rows ``te`` from a model of ``method`` fitted on the rows ``tr``."""
    if method == "knn":
        dist, idx = nn
        if task.kind == "regression":
            return knn_regress(dist, idx, task.y[tr], cfg["knn_weights"])
        return knn_classify(dist, idx, task.y[tr], len(task.labels), cfg["knn_weights"])
    if method == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge

        if task.kind == "regression":
            return Ridge(alpha=cfg["ridge_alpha"]).fit(Z[tr], task.y[tr]).predict(Z[te])
        model = LogisticRegression(C=1.0 / max(cfg["ridge_alpha"], 1e-12), max_iter=500)
        return model.fit(Z[tr], task.y[tr]).predict(Z[te])
    few = _few(tr, cfg, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task.kind == "regression":
            mu, sd = task.y[few].mean(), task.y[few].std() or 1.0
            model = _mlp("regression", cfg, seed).fit(Z[few], (task.y[few] - mu) / sd)
            return model.predict(Z[te]) * sd + mu
        return _mlp("classification", cfg, seed).fit(Z[few], task.y[few]).predict(Z[te])


def _few(tr: np.ndarray, cfg: dict, seed: int) -> np.ndarray:
    """The MLP's training objects: all train objects, or a seeded ``mlp_max_train`` of them (few-shot)."""
    if len(tr) <= cfg["mlp_max_train"]:
        return tr
    return np.sort(np.random.default_rng(seed).choice(tr, cfg["mlp_max_train"], replace=False))


def _mlp_regress_all(regs: list[Task], Z, tr, te, cfg: dict, seed: int) -> dict[str, np.ndarray]:
    """One multi-output MLP for every property of a group (standardised targets), as AstroCLIP's property
    MLP predicts its properties jointly; returns the test predictions per property in original units."""
    few = _few(tr, cfg, seed)
    Y = np.stack([t.y[few] for t in regs], axis=1)
    mu, sd = Y.mean(0), Y.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _mlp("regression", cfg, seed).fit(Z[few], (Y - mu) / sd)
    P = model.predict(Z[te]).reshape(len(te), -1) * sd + mu
    return {t.name: P[:, j] for j, t in enumerate(regs)}


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
        if "linear" in cfg["methods"] and regs:  # one multi-output ridge fit = the separate fits, column by column
            from sklearn.linear_model import Ridge

            Y = np.stack([t.y[tr] for t in regs], axis=1)
            P = Ridge(alpha=cfg["ridge_alpha"]).fit(Z[tr], Y).predict(Z[te]).reshape(len(te), -1)
            ridge = {t.name: P[:, j] for j, t in enumerate(regs)}
        mlp = _mlp_regress_all(regs, Z, tr, te, cfg, seed) if "mlp" in cfg["methods"] and regs else {}
        for task in group:
            if task.kind == "classification" and len(np.unique(task.y[tr])) < 2:
                notes.append(f"{task.name}: one class among the train objects: not scored")
                continue
            for method in cfg["methods"]:
                t0 = time.perf_counter()
                if method == "linear" and task.name in ridge:
                    p = ridge[task.name]
                elif method == "mlp" and task.name in mlp:
                    p = mlp[task.name]
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
