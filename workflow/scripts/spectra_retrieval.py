"""Entry script for spectra_retrieval: both directions for every variant and seed, random and oracle rows."""

import json

import numpy as np
import pandas as pd

from skytext.core.smk import log_to
from skytext.spectra import retrieval
from skytext.spectra.plots import recall_curves


def recall_at_1pct(result: dict):
    """spectrum->text Recall@1 % of a result (None when its curve lacks k = 1 %)."""
    curve = result["spectrum_to_text"].get("recall_at_pct")
    if not curve or 1.0 not in curve["k_percent"]:
        return None
    return curve["recall"][curve["k_percent"].index(1.0)]


def main(input, output, params) -> None:
    cfg, split, seed = params["eval"], params["eval"]["split"], params["seed"]
    src, tmeta = pd.read_parquet(input["spectral_ids"]), pd.read_parquet(input["text_ids"])
    s_rows, t_rows, s_keys, t_keys = retrieval.candidates(src, tmeta, split)
    results = {}
    for variant, path in zip(params["variants"], input["variants"]):
        z = np.load(path)
        results[variant] = retrieval.evaluate(z["spec"], z["text"], s_rows, t_rows, s_keys, t_keys, cfg, seed)
        seeds = sorted({k.split("_")[0] for k in z.files if k.startswith("seed")})
        if variant == "ensemble" and len(seeds) > 1:
            for s in seeds:
                results[f"{variant}/{s}"] = retrieval.evaluate(z[f"{s}_spec"], z[f"{s}_text"], s_rows, t_rows, s_keys,
                                                               t_keys, cfg, seed)
    gt = pd.read_parquet(input["observations"])
    results.update(retrieval.baselines(s_keys, t_keys, src["source_id"].iloc[s_rows].tolist(), gt, cfg, seed))
    head = {n: recall_at_1pct(r) for n, r in results.items()}
    ens, shf = head.get("ensemble"), head.get("shuffled")
    out = {"split": split, "results": results, "headline": {
        "spectrum_to_text_recall_at_1pct": head,
        # the control's Recall@1 % floored at one query (1/n) so the ratio stays finite when it finds none
        "ensemble_over_shuffled": (ens / max(shf, 1.0 / len(s_rows)) if ens is not None and shf is not None else None),
        "n_test_sources_with_papers": len(s_rows), "n_text_candidates": len(t_rows)}}
    with open(output["json"], "w") as fh:
        json.dump(out, fh, indent=1)
    recall_curves(results, output["curves"])
    print(json.dumps(out["headline"], indent=1))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
