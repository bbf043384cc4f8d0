"""The symmetric InfoNCE loss of CLIP, with the temperature applied correctly.

PAPERCLIP's code multiplied the logits by the raw learnable log-scale (about 4.6) rather than by its
exponential; here the scale is ``exp(logit_scale)``, clamped at 100 as CLIP does.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

MAX_LOG_SCALE = math.log(100.0)


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
              groups: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy over a batch of matching pairs.

    Features must be L2-normalised; row i of each is a positive pair, every other row a negative --
    except rows of the same ``groups`` value (two images of one proposal share its caption), which are
    masked out rather than pushed apart as false negatives.
    """
    scale = logit_scale.clamp(max=MAX_LOG_SCALE).exp()
    logits = scale * image_features.float() @ text_features.float().t()
    if groups is not None:
        same = groups[:, None] == groups[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
