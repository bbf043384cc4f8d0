"""Entry script for spectra_regression: the catalogue variables from each feature set and from the mixture
of experts; test R^2/MAE with paired bootstrap CIs, improvement over spectral (eval/regression.csv)."""

import json

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from skytext.core.smk import log_to, threads_for_torch
from skytext.eval.regression import scores
from skytext.sources.xray_demo import VARIABLES
from skytext.spectra.moe import Regressor
from skytext.spectra.outliers import fused
from skytext.spectra.plots import r2_bars

SETS = {"spectral": [0], "text": [1], "shared": [2], "concat": [0, 1], "moe": [0, 1, 2]}


def features(input, src: pd.DataFrame, seed: int, text_dim: int = 32):
    """([spectral, text, shared] feature matrices for every source row, has_text mask)."""
    latent = np.load(input["latent"])
    text, tmeta = np.load(input["text"]), pd.read_parquet(input["text_ids"])
    row = {s: i for i, s in enumerate(src["source_id"])}
    rows = np.array([row[s] for s in tmeta["source_id"]], dtype=int)
    has = np.zeros(len(src), bool)
    has[rows] = True
    pca = PCA(n_components=min(text_dim, len(rows) - 1, text.shape[1]), random_state=seed)
    pca.fit(text[(tmeta["split"] == "train").to_numpy()])
    tfeat = np.zeros((len(src), pca.n_components_), np.float32)
    tfeat[rows] = pca.transform(text)
    tfeat /= tfeat[has].std(0) + 1e-9
    z = np.load(input["ensemble"])
    stext = np.zeros((len(src), z["text"].shape[1]), np.float32)
    stext[rows] = z["text"]
    shared = fused(z["spec"], stext) * np.sqrt(z["spec"].shape[1])
    return [latent, tfeat, shared], has


def main(input, output, params, threads: int) -> None:
    threads_for_torch(threads)
    src = pd.read_parquet(input["sources"])
    ids = pd.read_parquet(input["spectral_ids"])
    src = src.set_index("source_id").loc[ids["source_id"]].reset_index()
    variables = [v for v in VARIABLES if v in src and src[v].notna().sum() > 10]
    y = src[variables].to_numpy(float)
    xs, has = features(input, src, params["seed"])
    split = src["split"].to_numpy()
    avail = np.stack([np.ones(len(src), bool), has, has], 1)
    preds = {}
    for name, parts in SETS.items():
        needs_text = name not in ("spectral", "moe")
        tr = (split == "train") & (has if needs_text else True)
        va = (split == "val") & (has if needs_text else True)
        reg = Regressor("moe" if name == "moe" else "single", params["regression"], params["seed"])
        sub = [xs[p] for p in parts]
        reg.fit([x[tr] for x in sub], avail[tr][:, parts], y[tr], [x[va] for x in sub], avail[va][:, parts], y[va])
        preds[name] = reg.predict(sub, avail[:, parts])
        if name == "moe":
            gate = reg.gate_weights(sub, avail)[(split == params["split"]) & has].mean(axis=(0, 2))
    test = split == params["split"]
    cfg = params["eval"]
    parts = []
    for subset, m, sets in (("with_papers", test & has, list(SETS)), ("without_papers", test & ~has, ["spectral", "moe"])):
        if m.sum() < 3:
            continue
        t = scores(y[m], {s: preds[s][m] for s in sets}, variables, "spectral", cfg["n_boot"], params["seed"])
        parts.append(t.assign(subset=subset, n_sources=int(m.sum())))
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(output["table"], index=False)
    r2_bars(table[table["variable"] != "mean"], output["plot"])
    mean = table[(table["variable"] == "mean") & (table["subset"] == "with_papers")].set_index("features")
    head = {"mean_r2": mean["r2"].to_dict(), "moe_gain_over_spectral": mean.loc["moe", "r2_gain"],
            "moe_gain_ci": [mean.loc["moe", "r2_gain_lo"], mean.loc["moe", "r2_gain_hi"]],
            "moe_improvement_pct": mean.loc["moe", "improvement_pct"],
            "moe_gate_mean_weight": dict(zip(["spectral", "text", "shared"], map(float, gate))),
            "variables": variables, "split": params["split"]}
    with open(output["json"], "w") as fh:
        json.dump(head, fh, indent=1, default=float)
    print(json.dumps(head, indent=1, default=float))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
