"""Entry script for the embed_image_part and embed_texts rules."""

import numpy as np
import pandas as pd

from skytext.core import gpus
from skytext.align.embed import embed_images, embed_texts, part_rows
from skytext.align.models import load_for_inference, pick_device
from skytext.core.smk import log_to, threads_for_torch


def main(input, output, params, wildcards, threads, resources) -> None:
    threads_for_torch(threads)
    with gpus.claim(int(resources.get("gpu", 0))):
        _embed(input, output, params, wildcards)


def _embed(input, output, params, wildcards) -> None:
    e = params["embed"]
    device = pick_device(e["device"])
    model, tokenizer, preprocess = load_for_inference(input["spec"], device)
    if "caption" in wildcards.keys():
        caps = pd.read_parquet(input["captions"])
        props = pd.read_parquet(input["proposals"])
        caps = caps[caps["proposal_id"].isin(set(props.loc[props["split"] == wildcards["split"], "proposal_id"]))]
        emb = embed_texts(model, tokenizer, caps["text"].tolist(), e["batch_size"], device, e["precision"], e["dtype"])
        np.save(output["embeddings"], emb)
        caps[["text_id", "proposal_id"]].to_parquet(output["ids"], index=False)
    else:
        obs = pd.read_parquet(input["observations"])
        obs = part_rows(obs[obs["split"] == wildcards["split"]], int(wildcards["part"]), params["parts"])
        emb = embed_images(model, preprocess, obs["path"].tolist(), e["batch_size"], e["workers"], device, e["precision"], e["dtype"])
        np.save(output["embeddings"], emb)
        cols = [c for c in ("obs_id", "proposal_id", "path", "gt_class", "gt_attrs") if c in obs.columns]
        obs[cols].to_parquet(output["ids"], index=False)
    print(f"embedded {emb.shape[0]} rows of dimension {emb.shape[1] if emb.ndim == 2 else 0}")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards, snakemake.threads,  # noqa: F821
             snakemake.resources)  # noqa: F821
