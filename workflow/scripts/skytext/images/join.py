"""The image study's join of image-embedding parts (numpy only: the job needs no torch)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from skytext.core.sharding import join_parts


def run_embed_images(embeddings: list[str], ids: list[str], spec: str, out_embeddings: str, out_ids: str,
                     out_spec: str) -> None:
    """Rule ``embed_images``: the parts of one model and split as one array and one id table, plus the spec."""
    emb, table = join_parts([np.load(p) for p in embeddings], [pd.read_parquet(p) for p in ids])
    np.save(out_embeddings, emb)
    table.to_parquet(out_ids, index=False)
    shutil.copyfile(spec, out_spec)
    print(f"joined {len(embeddings)} parts: {emb.shape[0]} rows of dimension {emb.shape[1]}")
