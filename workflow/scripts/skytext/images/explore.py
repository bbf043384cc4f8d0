"""The image study's look inside one model's embedding space: top descriptions of every image, query
galleries and true vs shuffled pair similarities (see :mod:`skytext.eval.explore`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from skytext.align.embed import embed_texts
from skytext.align.models import load_for_inference, pick_device
from skytext.core import gpus
from skytext.core.smk import threads_for_torch
from skytext.core.vocab import read_lines
from skytext.eval import explore


def explore_summary(model: str, top: pd.DataFrame, n_phrases: int, true: np.ndarray, shuffled: np.ndarray) -> dict:
    """The summary JSON of one model: description accuracy on the demo classes, mean true/shuffled cosines."""
    return {"model": model, "description_class_accuracy": explore.class_accuracy(top, n_phrases),
            "mean_cosine_true": float(true.mean()), "mean_cosine_shuffled": float(shuffled.mean())}


def run_explore(spec: str, images: str, image_ids: str, texts: str, text_ids: str, descriptions: str, queries: str,
                model: str, embed: dict, describe_k: int, gallery_k: int, chunk_size: int, seed: int,
                out_descriptions: str,
                out_summary: str, out_gallery: str, out_histogram: str, threads: int, gpus_given: int) -> dict:
    """Rule ``explore``: descriptions CSV, gallery and histogram PNGs and the summary JSON of ``model``.

    ``embed``: the ``images.embed`` leaves batch_size, device, precision (phrases and queries are embedded
    as the captions are); ``describe_k``/``gallery_k``: ``images.explore.describe_k``/``gallery_k``;
    ``chunk_size``: ``images.eval.chunk_size``, queries per block of the top-k searches.
    """
    threads_for_torch(threads)
    img = np.load(images).astype(np.float32)
    meta = pd.read_parquet(image_ids)
    phrases, asked = read_lines(descriptions), read_lines(queries)
    with gpus.claim(int(gpus_given)):
        device = pick_device(embed["device"])
        net, tokenizer, _ = load_for_inference(spec, device)
        phrase_emb, query_emb = (embed_texts(net, tokenizer, t, embed["batch_size"], device, embed["precision"],
                                             "float32") for t in (phrases, asked))
    top = explore.describe(img, meta, phrases, phrase_emb, describe_k, chunk_size)
    top.to_csv(out_descriptions, index=False)
    explore.gallery(img, meta, asked, query_emb, out_gallery, gallery_k, chunk_size)
    true, shuffled = explore.pair_similarities(img, meta["proposal_id"].astype(str).tolist(),
                                               np.load(texts).astype(np.float32),
                                               pd.read_parquet(text_ids)["proposal_id"].astype(str).tolist(), seed)
    explore.similarity_histogram(true, shuffled, out_histogram, model)
    summary = explore_summary(model, top, len(phrases), true, shuffled)
    with open(out_summary, "w") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps(summary))
    return summary
