"""Entry script for the embed_image_part rule: one contiguous slice of a split's images through one model."""

import numpy as np
import pandas as pd

from skytext.align.embed import embed_images, part_rows
from skytext.align.models import load_for_inference, pick_device
from skytext.core import gpus
from skytext.core.smk import log_to, threads_for_torch


def main(input, output, params, wildcards, threads, resources) -> None:
    threads_for_torch(threads)
    e = params["embed"]
    with gpus.claim(int(resources["gpu"])):
        device = pick_device(e["device"])
        model, _, preprocess = load_for_inference(input["spec"], device)
        obs = pd.read_parquet(input["observations"])
        obs = part_rows(obs[obs["split"] == wildcards["split"]], int(wildcards["part"]), params["parts"])
        emb = embed_images(model, preprocess, obs["path"].tolist(), e["batch_size"], e["workers"], device,
                           e["precision"], e["dtype"])
    np.save(output["embeddings"], emb)
    cols = [c for c in ("obs_id", "proposal_id", "path", "gt_class", "gt_attrs") if c in obs.columns]
    obs[cols].to_parquet(output["ids"], index=False)
    print(f"embedded {emb.shape[0]} images of dimension {emb.shape[1] if emb.ndim == 2 else 0}")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards, snakemake.threads,  # noqa: F821
             snakemake.resources)  # noqa: F821
