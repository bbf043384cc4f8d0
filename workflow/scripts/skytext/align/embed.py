"""Batched, inference-mode embedding of observations and captions with a saved model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from skytext.align.data import ImageSet, SentenceFitter, normalize
from skytext.align.models import autocast, pick_device


def part_rows(rows, part: int, parts: int):
    """Rows of embedding job ``part`` of ``parts``: contiguous slices, in order, covering every row once."""
    if not 0 <= part < parts:
        raise ValueError(f"embedding part {part} is not one of 0..{parts - 1}")
    n = len(rows)
    lo, hi = n * part // parts, n * (part + 1) // parts
    return rows.iloc[lo:hi]


def join_parts(arrays: list[np.ndarray], ids: list[pd.DataFrame]) -> tuple[np.ndarray, pd.DataFrame]:
    """The parts' embeddings and id tables concatenated in part order (rows stay aligned)."""
    for i, (a, t) in enumerate(zip(arrays, ids)):
        if len(a) != len(t):
            raise ValueError(f"embedding part {i} has {len(a)} rows but its id table has {len(t)}")
    dims = {a.shape[1] for a in arrays if a.ndim == 2 and len(a)}
    if len(dims) > 1:
        raise ValueError(f"embedding parts disagree on the dimension: {sorted(dims)}")
    width = dims.pop() if dims else (arrays[0].shape[1] if arrays and arrays[0].ndim == 2 else 0)
    emb = np.concatenate([a.reshape(len(a), width) for a in arrays]) if arrays else np.zeros((0, 0), np.float16)
    return emb, pd.concat(ids, ignore_index=True) if ids else pd.DataFrame()



def embed_images(model, preprocess: dict, paths: list[str], batch_size: int = 256, workers: int = 0,
                 device: str | torch.device = "cpu", precision: str = "auto", dtype: str = "float16") -> np.ndarray:
    """L2-normalised image embeddings ``[len(paths), d]`` in ``dtype``, rows aligned with ``paths``."""
    from tqdm import tqdm

    device = torch.device(device)
    loader = torch.utils.data.DataLoader(ImageSet(paths, preprocess["image_size"]), batch_size=batch_size,
                                         num_workers=workers, pin_memory=device.type == "cuda")
    out = []
    with torch.inference_mode():
        for x, _ in tqdm(loader, desc="embed images", mininterval=10):
            x = normalize(x.to(device, non_blocking=True), preprocess["mean"], preprocess["std"])
            with autocast(device, precision):
                out.append(model.encode_image(x).float().cpu())
    dim = model.encode_text(torch.zeros(1, 1, dtype=torch.long, device=device)).shape[-1] if not out else None
    feats = torch.cat(out).numpy() if out else np.zeros((0, dim), np.float32)
    return feats.astype(dtype)


def embed_texts(model, tokenizer, texts: list[str], batch_size: int = 256, device: str | torch.device = "cpu",
                precision: str = "auto", dtype: str = "float16") -> np.ndarray:
    """L2-normalised text embeddings; each text is cut to the leading whole sentences that fit the context."""
    device = torch.device(device)
    fitter = SentenceFitter(tokenizer, getattr(tokenizer, "context_length", 77))
    fitted = [fitter.leading(t) for t in texts]
    out = []
    with torch.inference_mode():
        for s in range(0, len(fitted), batch_size):
            with autocast(device, precision):
                out.append(model.encode_text(tokenizer(fitted[s : s + batch_size]).to(device)).float().cpu())
    return torch.cat(out).numpy().astype(dtype) if out else np.zeros((0, 0), dtype)


__all__ = ["embed_images", "embed_texts", "join_parts", "part_rows", "pick_device"]
