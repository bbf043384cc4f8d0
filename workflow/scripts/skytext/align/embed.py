"""Batched, inference-mode embedding of observations and captions with a saved model."""

from __future__ import annotations

import numpy as np
import torch

from skytext.align.data import ImageSet, SentenceFitter, normalize
from skytext.align.models import autocast, pick_device
from skytext.core.sharding import join_parts, part_rows  # noqa: F401  (re-exported)


def embed_images(model, preprocess: dict, paths: list[str], batch_size: int, workers: int,
                 device: str | torch.device, precision: str, dtype: str) -> np.ndarray:
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


def embed_texts(model, tokenizer, texts: list[str], batch_size: int, device: str | torch.device, precision: str,
                dtype: str) -> np.ndarray:
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
