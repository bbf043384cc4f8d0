"""The image study's embeddings: one slice of a split's images, or one caption type's texts, through a model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skytext.align.embed import embed_images, embed_texts
from skytext.align.models import load_for_inference, pick_device
from skytext.core import gpus
from skytext.core.sharding import part_rows
from skytext.core.smk import threads_for_torch

ID_COLUMNS = ("obs_id", "proposal_id", "path", "gt_class", "gt_attrs")


def run_embed_image_part(spec: str, observations: str, split: str, part: int, parts: int, embed: dict,
                         out_embeddings: str, out_ids: str, threads: int, gpus_given: int) -> None:
    """Rule ``embed_image_part``: embed slice ``part`` of ``parts`` of the ``split`` images; write the array and
    its ids. ``embed``: the ``images.embed`` leaves batch_size, workers, device, precision, dtype."""
    threads_for_torch(threads)
    with gpus.claim(int(gpus_given)):
        device = pick_device(embed["device"])
        model, _, preprocess = load_for_inference(spec, device)
        obs = pd.read_parquet(observations)
        obs = part_rows(obs[obs["split"] == split], int(part), parts)
        emb = embed_images(model, preprocess, obs["path"].tolist(), embed["batch_size"], embed["workers"], device,
                           embed["precision"], embed["dtype"])
    np.save(out_embeddings, emb)
    obs[[c for c in ID_COLUMNS if c in obs.columns]].to_parquet(out_ids, index=False)
    print(f"embedded {emb.shape[0]} images of dimension {emb.shape[1] if emb.ndim == 2 else 0}")


def split_captions(captions: pd.DataFrame, proposals: pd.DataFrame, split: str) -> pd.DataFrame:
    """The captions of the proposals in ``split``."""
    return captions[captions["proposal_id"].isin(set(proposals.loc[proposals["split"] == split, "proposal_id"]))]


def run_embed_texts(spec: str, captions: str, proposals: str, split: str, embed: dict, out_embeddings: str,
                    out_ids: str, threads: int, gpus_given: int) -> None:
    """Rule ``embed_texts``: embed one caption type of one split; write the array and its ids.
    ``embed``: the ``images.embed`` leaves batch_size, device, precision, dtype."""
    threads_for_torch(threads)
    caps = split_captions(pd.read_parquet(captions), pd.read_parquet(proposals), split)
    with gpus.claim(int(gpus_given)):
        device = pick_device(embed["device"])
        model, tokenizer, _ = load_for_inference(spec, device)
        emb = embed_texts(model, tokenizer, caps["text"].tolist(), embed["batch_size"], device, embed["precision"],
                          embed["dtype"])
    np.save(out_embeddings, emb)
    caps[["text_id", "proposal_id"]].to_parquet(out_ids, index=False)
    print(f"embedded {emb.shape[0]} texts of dimension {emb.shape[1] if emb.ndim == 2 else 0}")
