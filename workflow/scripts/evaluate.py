"""Entry script for the evaluate rule: retrieval both ways for one model x caption type."""

import json

import numpy as np
import pandas as pd

from skytext.eval.retrieval import evaluate_embeddings
from skytext.core.smk import log_to


def evaluate_one(input, output, params) -> None:
    res = evaluate_embeddings(np.load(input["images"]).astype(np.float32), pd.read_parquet(input["image_ids"]),
                              np.load(input["texts"]).astype(np.float32), pd.read_parquet(input["text_ids"]),
                              params["eval"], params["seed"])
    res.update(model=params["model"], caption=params["caption"], split=params["split"])
    with open(output["result"], "w") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps({k: res[k]["top10pct"] for k in ("image_to_text", "text_to_image")}))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        evaluate_one(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
