"""Entry script for spectra_outliers: anomaly ranking in the shared space beside spectral-only (and text),
top outliers with their texts, and precision@(n planted) / recall of planted outliers (demo)."""

import json

import numpy as np
import pandas as pd

from skytext.core.smk import log_to
from skytext.spectra.outliers import fused, mismatch, precision_recall_at, scores


def main(input, output, params) -> None:
    cfg, seed = params["outliers"], params["seed"]
    ids = pd.read_parquet(input["spectral_ids"])
    src = pd.read_parquet(input["sources"]).set_index("source_id").loc[ids["source_id"]].reset_index()
    tmeta = pd.read_parquet(input["text_ids"])
    rows = src.reset_index().set_index("source_id").loc[tmeta["source_id"], "index"].to_numpy()
    z = np.load(input["ensemble"])
    unimodal = "knn" if cfg["method"] == "mismatch" else cfg["method"]  # mismatch needs two towers
    shared = {"knn": scores(fused(z["spec"][rows], z["text"]), "knn", cfg["k"], seed),
              "iforest": scores(fused(z["spec"][rows], z["text"]), "iforest", cfg["k"], seed),
              "mismatch": mismatch(z["spec"][rows], z["text"])}
    sc = {"shared": shared[cfg["method"]],
          "spectral": scores(np.load(input["spectral"])[rows], unimodal, cfg["k"], seed),
          "text": scores(np.load(input["text"]), unimodal, cfg["k"], seed)}
    sub = src.iloc[rows].reset_index(drop=True)
    texts = pd.concat([pd.read_parquet(p) for p in input["texts"]]).set_index("text_id")["text"]
    links = pd.read_parquet(input["links"])
    first = links.groupby("source_id")["text_id"].first()
    tab = pd.DataFrame({"source_id": sub["source_id"], "class": sub["class"], "split": sub["split"],
                        **{f"score_{k}": v for k, v in sc.items()},
                        **{f"rank_{k}": pd.Series(-v).rank(method="first").astype(int) for k, v in sc.items()}})
    for col in ("is_outlier", "outlier_type"):
        if col in sub:
            tab[col] = sub[col].to_numpy()
    tab["text"] = [str(texts.get(first.get(s, ""), ""))[:400] for s in tab["source_id"]]
    top = tab.sort_values("rank_shared").head(cfg["top_n"])
    top.to_csv(output["table"], index=False)
    res = {"method": cfg["method"], "unimodal_method": unimodal, "k": cfg["k"], "n_sources": int(len(tab)),
           "population": "sources with at least one embedded paper, all splits (unsupervised)",
           "shared_space": "spectrum-tower and text-tower vectors of each source side by side (ensemble)"}
    if "is_outlier" in tab and tab["is_outlier"].any():
        truth = tab["is_outlier"].to_numpy(bool)
        n = int(truth.sum())
        res["n_planted"] = n
        for k, v in sc.items():
            p, r = precision_recall_at(v, truth, n)
            p2, r2 = precision_recall_at(v, truth, cfg["top_n"])
            res[k] = {f"precision_at_{n}": p, f"recall_at_{n}": r, f"precision_at_{cfg['top_n']}": p2,
                      f"recall_at_{cfg['top_n']}": r2}
        res["shared_by_method"] = {m: precision_recall_at(v, truth, n)[0] for m, v in shared.items()}
        res["shared_over_spectral_precision"] = (res["shared"][f"precision_at_{n}"] /
                                                 max(res["spectral"][f"precision_at_{n}"], 1.0 / n))
        res["chance_precision"] = n / len(tab)
    with open(output["json"], "w") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps(res, indent=1))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
