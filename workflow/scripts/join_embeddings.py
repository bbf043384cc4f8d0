"""Entry script for the embed_images rule: join the image-embedding parts of one model and split."""

import shutil

import numpy as np
import pandas as pd

from skytext.core.sharding import join_parts  # numpy only: this job needs no torch
from skytext.core.smk import log_to


def main(input, output) -> None:
    emb, ids = join_parts([np.load(p) for p in input["embeddings"]], [pd.read_parquet(p) for p in input["ids"]])
    np.save(output["embeddings"], emb)
    ids.to_parquet(output["ids"], index=False)
    shutil.copyfile(input["spec"], output["spec"])
    print(f"joined {len(input['embeddings'])} parts: {emb.shape[0]} rows of dimension {emb.shape[1]}")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output)  # noqa: F821
