"""Projection heads that align the spectral latent with the pooled text embedding (symmetric InfoNCE of
:func:`skytext.align.loss.clip_loss`), an ensemble over seeds, and the shuffled-pairs control.

The ensemble's shared vectors are the per-seed L2-normalised head outputs concatenated and scaled by
1/sqrt(seeds): their dot product is the mean over seeds of each seed's cosine similarity.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from skytext.align.loss import clip_loss


class Head(nn.Module):
    def __init__(self, d_in: int, hidden: int, dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x):
        return nn.functional.normalize(self.net(x), dim=-1)


class Pair(nn.Module):
    def __init__(self, d_spec: int, d_text: int, cfg: dict):
        super().__init__()
        self.spec = Head(d_spec, cfg["hidden"], cfg["dim"], cfg["dropout"])
        self.text = Head(d_text, cfg["hidden"], cfg["dim"], cfg["dropout"])
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


def _groups(keys) -> torch.Tensor:
    codes = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    return torch.as_tensor([codes[k] for k in keys])


def fit_pair(spec_tr, text_tr, keys_tr, spec_va, text_va, keys_va, cfg: dict, seed: int):
    """Train one pair of heads; keep the weights of the best validation loss. (model, history)."""
    torch.manual_seed(seed)
    model = Pair(spec_tr.shape[1], text_tr.shape[1], cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    st, tt, gt = torch.as_tensor(spec_tr), torch.as_tensor(text_tr), _groups(keys_tr)
    sv, tv, gv = torch.as_tensor(spec_va), torch.as_tensor(text_va), _groups(keys_va)
    gen = torch.Generator().manual_seed(seed)
    best, best_loss, history = copy.deepcopy(model.state_dict()), float("inf"), []
    for epoch in range(cfg["epochs"]):
        model.train()
        for idx in torch.randperm(len(st), generator=gen).split(cfg["batch_size"]):
            if len(idx) < 2:
                continue
            loss = clip_loss(model.spec(st[idx]), model.text(tt[idx]), model.logit_scale, gt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % 5 == 0 or epoch + 1 == cfg["epochs"]:
            model.eval()
            with torch.no_grad():
                vl = float(clip_loss(model.spec(sv), model.text(tv), model.logit_scale, gv)) if len(sv) > 1 else float(loss.detach())
            history.append({"epoch": epoch + 1, "train_loss": float(loss.detach()), "val_loss": vl})
            if vl < best_loss:
                best, best_loss = copy.deepcopy(model.state_dict()), vl
    model.load_state_dict(best)
    return model.eval(), history


@torch.no_grad()
def project(models: list[Pair], spec: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble shared vectors (spectrum tower [n, dim*seeds], text tower [m, dim*seeds]), L2-normalised."""
    s = np.concatenate([m.spec(torch.as_tensor(spec)).numpy() for m in models], 1) / math.sqrt(len(models))
    t = np.concatenate([m.text(torch.as_tensor(text)).numpy() for m in models], 1) / math.sqrt(len(models))
    return s.astype(np.float32), t.astype(np.float32)


def shuffle_pairs(text: np.ndarray, seed: int) -> np.ndarray:
    """The control: texts permuted among the training sources."""
    return text[np.random.default_rng([seed, 99]).permutation(len(text))]
