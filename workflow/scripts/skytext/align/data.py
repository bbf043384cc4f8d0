"""Observations and captions as model inputs: image loading, augmentation, and sentence subsampling.

Images are decoded once per item into uint8 tensors (so DataLoader workers ship bytes, not floats);
augmentation runs per batch on the training device, with an independent draw for every image: random
90-degree rotation, flips and a random crop, as PAPERCLIP. Text is fitted to the model's context by
choosing whole sentences: at random for training, the leading ones for evaluation.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from torch.nn import functional as F

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


class BadImage(ValueError):
    """An image file that cannot be decoded."""


# ---------------------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------------------


def load_image(path: str, size: int) -> torch.Tensor:
    """uint8 tensor [3, size, size]: shorter side resized to ``size``, centre-cropped, greyscale as RGB."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            im = im.resize((nw, nh), Image.Resampling.BICUBIC)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise BadImage(f"cannot decode image {path}: {exc}") from exc
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


class ImageSet(torch.utils.data.Dataset):
    """The images at ``paths`` as uint8 tensors of ``size``; item = (image, index)."""

    def __init__(self, paths: list[str], size: int):
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return load_image(self.paths[i], self.size), i


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 [B,3,H,W] -> float, scaled to [0,1] and standardised."""
    x = images.float().div_(255.0)
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Float images resized to ``size`` x ``size`` (antialiased bilinear; unchanged when already that size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images.float()
    return F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def augment(
    images: torch.Tensor,
    out_size: int,
    generator: torch.Generator,
    rot90: bool,
    flip: bool,
    crop_scale: tuple[float, float],
    rows: slice | None = None,
    total: int | None = None,
) -> torch.Tensor:
    """Random 90-degree rotation, flip and square crop of each image, resampled to ``out_size``.

    One affine grid per image, so every image gets its own draw; the draws come from ``generator`` only
    (seeded per step by the caller), which keeps training reproducible and resumable. When ``images`` are
    the ``rows`` of a batch of ``total`` (one rank's share), draws are made for the whole batch and the
    share's are used, so an image is augmented the same whichever rank holds it.
    """
    b = images.shape[0]
    total = b if total is None else total
    rows = slice(0, b) if rows is None else rows
    u = torch.rand((total, 4), generator=generator)
    k = (u[:, 0] * 4).floor() if rot90 else torch.zeros(total)
    angle = k * (math.pi / 2)
    sx = torch.where((u[:, 1] < 0.5) & torch.tensor(flip), -1.0, 1.0)
    lo, hi = crop_scale
    s = lo + (hi - lo) * u[:, 2]
    free = 1.0 - s
    t = torch.rand((total, 2), generator=generator) * 2 * free[:, None] - free[:, None]
    k, angle, sx, s, t = k[rows], angle[rows], sx[rows], s[rows], t[rows]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros((b, 2, 3))
    theta[:, 0, 0] = s * cos * sx
    theta[:, 0, 1] = -s * sin
    theta[:, 1, 0] = s * sin * sx
    theta[:, 1, 1] = s * cos
    theta[:, :, 2] = t
    x = images.float()
    # shrink first (antialiased) so the crop samples at about the output resolution
    pre = max(out_size, int(round(out_size / max(lo, 1e-3))))
    if x.shape[-1] > pre:
        x = resize(x, pre)
    grid = F.affine_grid(theta.to(x.device), (b, x.shape[1], out_size, out_size), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


# ---------------------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (whitespace normalised; split after . ! ? before a capital, digit or quote)."""
    text = " ".join(str(text).split())
    return [s for s in _SENTENCE.split(text) if s]


class SentenceFitter:
    """Fits texts into a token budget by choosing whole sentences."""

    def __init__(self, tokenizer, context_length: int = 77):
        self.tokenizer = tokenizer
        self.budget = context_length - 2  # start and end tokens
        self._cache: dict[str, tuple[list[str], list[int]]] = {}

    def _count(self, sentence: str) -> int:
        enc = getattr(self.tokenizer, "encode", None)
        if enc is not None:
            try:
                return len(enc(sentence))
            except TypeError:
                pass
        return int(len(sentence.split()) * 1.4) + 1

    def sentences(self, text: str) -> tuple[list[str], list[int]]:
        """(sentences of ``text``, their token counts incl. a separator), cached per text."""
        hit = self._cache.get(text)
        if hit is None:
            sents = split_sentences(text)
            hit = (sents, [self._count(s) + 1 for s in sents])
            self._cache[text] = hit
        return hit

    def leading(self, text: str) -> str:
        """The leading sentences that fit (at least the first one, which the tokenizer truncates)."""
        sents, counts = self.sentences(text)
        out, used = [], 0
        for s, c in zip(sents, counts):
            if out and used + c > self.budget:
                break
            out.append(s)
            used += c
        return " ".join(out)

    def sample(self, text: str, generator: torch.Generator) -> str:
        """A random subset of whole sentences, kept in their original order, that fits the budget."""
        sents, counts = self.sentences(text)
        if sum(counts) <= self.budget or len(sents) <= 1:
            return " ".join(sents)
        order = torch.randperm(len(sents), generator=generator).tolist()
        chosen, used = [], 0
        for i in order:
            if used + counts[i] <= self.budget:
                chosen.append(i)
                used += counts[i]
        if not chosen:
            chosen = [order[0]]
        return " ".join(sents[i] for i in sorted(chosen))


def caption_lookup(captions: pd.DataFrame) -> dict[str, str]:
    """proposal_id -> caption text (the contract allows one caption per text_id and type)."""
    return dict(zip(captions["proposal_id"].astype(str), captions["text"].astype(str)))
