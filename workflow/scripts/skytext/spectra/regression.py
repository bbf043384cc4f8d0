"""Regression of the catalogue variables from each representation (spectral latent, text, shared, their
concatenation) and from the mixture of experts, on the sources with papers and (spectral and MoE only) on
those without; test R^2/MAE with paired bootstrap intervals and the gain over the spectral model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from skytext.core.smk import threads_for_torch
from skytext.eval.regression import scores
from skytext.spectra.acquire import read_variables
from skytext.spectra.moe import Regressor
from skytext.spectra.outliers import fused
from skytext.spectra.plots import r2_bars

SETS = {"spectral": [0], "text": [1], "shared": [2], "concat": [0, 1], "moe": [0, 1, 2]}
EXPERTS = ("spectral", "text", "shared")


def features(latent: np.ndarray, text: np.ndarray, tmeta: pd.DataFrame, ens_spec: np.ndarray,
             ens_text: np.ndarray, src: pd.DataFrame, text_dim: int, seed: int):
    """([spectral, text, shared] feature matrices for every source row of ``src``, has_text mask): the text
    embedding reduced to ``text_dim`` principal components (fitted on train texts) and scaled to unit
    variance; the shared space both towers side by side (zeros for a missing text)."""
    row = {s: i for i, s in enumerate(src["source_id"])}
    rows = np.array([row[s] for s in tmeta["source_id"]], dtype=int)
    has = np.zeros(len(src), bool)
    has[rows] = True
    pca = PCA(n_components=min(text_dim, len(rows) - 1, text.shape[1]), random_state=seed)
    pca.fit(text[(tmeta["split"] == "train").to_numpy()])
    tfeat = np.zeros((len(src), pca.n_components_), np.float32)
    tfeat[rows] = pca.transform(text)
    tfeat /= tfeat[has].std(0) + 1e-9
    stext = np.zeros((len(src), ens_text.shape[1]), np.float32)
    stext[rows] = ens_text
    shared = fused(ens_spec, stext) * np.sqrt(ens_spec.shape[1])
    return [latent, tfeat, shared], has


def fit_predict(xs: list[np.ndarray], has: np.ndarray, y: np.ndarray, split: np.ndarray, regression: dict,
                seed: int) -> tuple[dict[str, np.ndarray], Regressor]:
    """(predictions of every feature set for every source, the fitted MoE). Sets with text train on the
    sources with papers; the MoE on all, its spectral expert the fitted spectral model, frozen, so that a
    source without papers gets exactly the spectral model's prediction."""
    avail = np.stack([np.ones(len(has), bool), has, has], 1)
    preds, fitted = {}, {}
    for name, parts in SETS.items():
        needs_text = name not in ("spectral", "moe")
        tr = (split == "train") & (has if needs_text else True)
        va = (split == "val") & (has if needs_text else True)
        reg = Regressor("moe" if name == "moe" else "single", regression, seed)
        sub = [xs[p] for p in parts]
        reg.fit([x[tr] for x in sub], avail[tr][:, parts], y[tr], [x[va] for x in sub], avail[va][:, parts], y[va],
                fixed={0: fitted["spectral"]} if name == "moe" else None)
        preds[name], fitted[name] = reg.predict(sub, avail[:, parts]), reg
    return preds, fitted["moe"]


def score_subsets(y: np.ndarray, preds: dict, has: np.ndarray, test: np.ndarray, variables: list[str], n_boot: int,
                  seed: int) -> pd.DataFrame:
    """Scores on the test sources with papers (every set) and without (spectral and MoE); every row's
    ``n_sources`` and the ``mean`` rows' ``n`` are the subset's sources (``n_variables``: targets averaged)."""
    parts = []
    for subset, m, sets in (("with_papers", test & has, list(SETS)), ("without_papers", test & ~has, ["spectral", "moe"])):
        if m.sum() < 3:
            continue
        t = scores(y[m], {s: preds[s][m] for s in sets}, variables, "spectral", n_boot, seed)
        finite = int(sum(np.isfinite(y[m][:, j]).sum() >= 2 for j in range(len(variables))))
        t["n_variables"] = np.where(t["variable"] == "mean", finite, 1)
        t.loc[t["variable"] == "mean", "n"] = int(m.sum())
        parts.append(t.assign(subset=subset, n_sources=int(m.sum())))
    return pd.concat(parts, ignore_index=True)


def prediction_table(source_ids, has: np.ndarray, y: np.ndarray, pred: np.ndarray, variables: list[str],
                     rows: np.ndarray, split: str) -> pd.DataFrame:
    """One row per source of ``rows`` (the scored split): source_id, split, has_papers and, for every
    variable, ``<var>_true`` (NaN where the variable is not meaningful) and ``<var>_pred`` (the MoE)."""
    out = pd.DataFrame({"source_id": pd.Series(np.asarray(source_ids)[rows], dtype="string"), "split": split,
                        "has_papers": has[rows]})
    for j, v in enumerate(variables):
        out[f"{v}_true"] = y[rows, j].astype(float)
        out[f"{v}_pred"] = pred[rows, j].astype(float)
    return out


def run_regression(sources: str, spectral_ids: str, latent: str, text: str, text_ids: str, ensemble: str,
                   variables: str, table_out: str, json_out: str, plot_out: str, predictions_out: str,
                   regression: dict, text_dim: int, split: str, n_boot: int, seed: int, threads: int) -> None:
    """Rule spectra_regression: eval/regression.csv (every set, both subsets), regression.json (headline, gate
    weights), the R^2 bar plot and regression_predictions.parquet (:func:`prediction_table`: each scored
    source's true value and MoE prediction of every variable). ``variables``: the source's variables.json."""
    threads_for_torch(threads)
    ids = pd.read_parquet(spectral_ids)
    src = pd.read_parquet(sources).set_index("source_id").loc[ids["source_id"]].reset_index()
    names = [v for v in read_variables(variables) if v in src and src[v].notna().sum() > 10]
    y = src[names].to_numpy(float)
    z = np.load(ensemble)
    xs, has = features(np.load(latent), np.load(text), pd.read_parquet(text_ids), z["spec"], z["text"], src,
                       text_dim, seed)
    sp = src["split"].to_numpy()
    preds, moe = fit_predict(xs, has, y, sp, regression, seed)
    test = sp == split
    avail = np.stack([np.ones(len(has), bool), has, has], 1)
    gate = moe.gate_weights(xs, avail)[test & has].mean(axis=(0, 2))
    table = score_subsets(y, preds, has, test, names, n_boot, seed)
    table.to_csv(table_out, index=False)
    prediction_table(src["source_id"], has, y, preds["moe"], names, np.flatnonzero(test), split).to_parquet(
        predictions_out, index=False)
    r2_bars(table[table["variable"] != "mean"], plot_out)
    mean = table[(table["variable"] == "mean") & (table["subset"] == "with_papers")].set_index("features")
    head = {"mean_r2": mean["r2"].to_dict(), "moe_gain_over_spectral": mean.loc["moe", "r2_gain"],
            "moe_gain_ci": [mean.loc["moe", "r2_gain_lo"], mean.loc["moe", "r2_gain_hi"]],
            "moe_improvement_pct": mean.loc["moe", "improvement_pct"],
            "moe_gate_mean_weight": dict(zip(EXPERTS, map(float, gate))), "variables": names, "split": split}
    Path(json_out).write_text(json.dumps(head, indent=1, default=float))
    print(json.dumps(head, indent=1, default=float))
