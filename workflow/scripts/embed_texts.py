"""Entry script for the embed_texts rule: one caption type of one split through one model's text tower."""

import numpy as np
import pandas as pd

from skytext.align.embed import embed_texts
from skytext.align.models import load_for_inference, pick_device
from skytext.core import gpus
from skytext.core.smk import log_to, threads_for_torch


def main(input, output, params, wildcards, threads, resources) -> None:
    threads_for_torch(threads)
    e = params["embed"]
    caps = pd.read_parquet(input["captions"])
    props = pd.read_parquet(input["proposals"])
    caps = caps[caps["proposal_id"].isin(set(props.loc[props["split"] == wildcards["split"], "proposal_id"]))]
    with gpus.claim(int(resources["gpu"])):
        device = pick_device(e["device"])
        model, tokenizer, _ = load_for_inference(input["spec"], device)
        emb = embed_texts(model, tokenizer, caps["text"].tolist(), e["batch_size"], device, e["precision"], e["dtype"])
    np.save(output["embeddings"], emb)
    caps[["text_id", "proposal_id"]].to_parquet(output["ids"], index=False)
    print(f"embedded {emb.shape[0]} texts of dimension {emb.shape[1] if emb.ndim == 2 else 0}")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards, snakemake.threads,  # noqa: F821
             snakemake.resources)  # noqa: F821
