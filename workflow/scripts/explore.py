"""Entry script for the explore rule: descriptions, query galleries and similarity histograms of one model."""

import json

import numpy as np
import pandas as pd

from skytext.eval import explore
from skytext.align.embed import embed_texts
from skytext.align.models import load_for_inference
from skytext.core.smk import log_to, threads_for_torch
from skytext.core.vocab import read_lines


def main(input, output, params, threads) -> None:
    threads_for_torch(threads)
    model, tokenizer, _ = load_for_inference(input["spec"])
    img = np.load(input["images"]).astype(np.float32)
    meta = pd.read_parquet(input["image_ids"])
    phrases, queries = read_lines(input["descriptions"]), read_lines(input["queries"])
    top = explore.describe(img, meta, phrases, embed_texts(model, tokenizer, phrases, dtype="float32"))
    top.to_csv(output["descriptions"], index=False)
    explore.gallery(img, meta, queries, embed_texts(model, tokenizer, queries, dtype="float32"), output["gallery"])
    true, shuffled = explore.pair_similarities(img, meta["proposal_id"].astype(str).tolist(), np.load(input["texts"]).astype(np.float32),
                                               pd.read_parquet(input["text_ids"])["proposal_id"].astype(str).tolist(), params["seed"])
    explore.similarity_histogram(true, shuffled, output["histogram"], params["model"])
    summary = {"model": params["model"], "description_class_accuracy": explore.class_accuracy(top, len(phrases)),
               "mean_cosine_true": float(true.mean()), "mean_cosine_shuffled": float(shuffled.mean())}
    with open(output["summary"], "w") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps(summary))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
