"""Entry scripts for the evaluate rule (one model x caption) and the compare rule (all of them)."""

import json

import numpy as np
import pandas as pd

from skytext.eval.retrieval import comparison_table, evaluate_embeddings, oracle, random_result
from skytext.eval.plots import retrieval_curves
from skytext.core.smk import log_to


def evaluate_one(input, output, params) -> None:
    res = evaluate_embeddings(np.load(input["images"]).astype(np.float32), pd.read_parquet(input["image_ids"]),
                              np.load(input["texts"]).astype(np.float32), pd.read_parquet(input["text_ids"]),
                              params["eval"], params["seed"])
    res.update(model=params["model"], caption=params["caption"], split=params["split"])
    with open(output["result"], "w") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps({k: res[k]["top10pct"] for k in ("image_to_text", "text_to_image")}))


def compare(input, output, params) -> None:
    results = {}
    for path in input["results"]:
        with open(path) as fh:
            r = json.load(fh)
        results[f"{r['model']}/{r['caption']}"] = r
    obs = pd.read_parquet(input["observations"])
    obs = obs[obs["split"] == params["split"]]
    props = pd.read_parquet(input["proposals"])
    props = props[props["split"] == params["split"]]
    any_r = next(iter(results.values()))
    results["random"] = random_result(any_r["image_to_text"]["n_candidates"], any_r["text_to_image"]["n_candidates"],
                                      len(obs) / max(1, len(props)))
    orc = oracle(obs.reset_index(drop=True), props, params["eval"], params["seed"])
    if orc is not None:
        results["oracle"] = orc
    table = comparison_table(results)
    table.to_csv(output["table"], index=False)
    with open(output["json"], "w") as fh:
        json.dump({"split": params["split"], "results": results}, fh, indent=1)
    retrieval_curves(results, output["curves"])
    print(table.to_string())


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        if snakemake.rule == "compare":  # noqa: F821
            compare(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
        else:
            evaluate_one(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
