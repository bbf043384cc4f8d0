"""Regression of catalogue variables from representations: one MLP per feature set, and a mixture of
experts (a gating network weighting expert MLPs on the spectral, text and shared representations per
source and per variable). Sources without papers have only the spectral expert: the gate is masked to it.

All targets are standardised with training statistics; NaN targets (variable not meaningful for the
source) are masked out of the loss. Early stopping on the validation loss.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden, d_out))


class Single(nn.Module):
    """One MLP on the concatenated representations."""

    def __init__(self, dims: list[int], hidden: int, n_out: int):
        super().__init__()
        self.net = _mlp(sum(dims), hidden, n_out)

    def forward(self, xs: list[torch.Tensor], avail: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(predictions [n, targets], no expert outputs)."""
        return self.net(torch.cat(xs, -1)), []


class MoE(nn.Module):
    """Experts on each representation; gate on all of them (unavailable experts masked)."""

    def __init__(self, dims: list[int], hidden: int, n_out: int):
        super().__init__()
        self.experts = nn.ModuleList(_mlp(d, hidden, n_out) for d in dims)
        self.gate = _mlp(sum(dims), hidden, len(dims) * n_out)
        self.n_out = n_out

    def weights(self, xs: list[torch.Tensor], avail: torch.Tensor) -> torch.Tensor:
        """Gate weights [n, experts, targets], zero for unavailable experts."""
        g = self.gate(torch.cat(xs, -1)).reshape(len(xs[0]), len(xs), self.n_out)
        g = g.masked_fill(~avail[:, :, None], float("-inf"))
        return torch.softmax(g, dim=1)

    def forward(self, xs: list[torch.Tensor], avail: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(gated predictions [n, targets], each expert's predictions)."""
        outs = [e(x) for e, x in zip(self.experts, xs)]
        w = self.weights(xs, avail)
        return (w * torch.stack(outs, 1)).sum(1), outs


def _masked_mse(p: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (((p - y) ** 2) * m).sum() / m.sum().clamp(min=1)


class Regressor:
    """Fit on train, stop on val, predict in original units."""

    def __init__(self, kind: str, cfg: dict, seed: int):
        self.kind, self.cfg, self.seed = kind, cfg, seed

    def fit(self, xs_tr, avail_tr, y_tr, xs_va, avail_va, y_va, fixed: dict[int, "Regressor"] | None = None):
        """Fit on the training rows, early-stop on the validation loss; returns self. ``fixed`` (MoE only):
        expert index -> a fitted single-set Regressor on that representation, used as that expert, frozen
        (its target standardisation too)."""
        torch.manual_seed(self.seed)
        self.mu, self.sd = np.nanmean(y_tr, 0), np.nanstd(y_tr, 0) + 1e-9
        self.mu, self.sd = np.nan_to_num(self.mu), np.where(np.isfinite(self.sd), self.sd, 1.0)
        cls = MoE if self.kind == "moe" else Single
        self.model = cls([x.shape[1] for x in xs_tr], self.cfg["hidden"], y_tr.shape[1])
        for k, reg in (fixed or {}).items():
            self.mu, self.sd = reg.mu, reg.sd
            self.model.experts[k].load_state_dict(reg.model.net.state_dict())
            self.model.experts[k].requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.cfg["lr"], weight_decay=self.cfg["weight_decay"])
        tr, va = self._tensors(xs_tr, avail_tr, y_tr), self._tensors(xs_va, avail_va, y_va)
        best, best_loss, wait = None, float("inf"), 0
        for _ in range(self.cfg["epochs"]):
            self.model.train()
            p, outs = self.model(tr[0], tr[1])
            loss = _masked_mse(p, tr[2], tr[3])
            for k, o in enumerate(outs):  # each expert also learns on its own (rows where it is available)
                loss = loss + 0.5 * _masked_mse(o, tr[2], tr[3] * tr[1][:, k:k + 1])
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.model.eval()
            with torch.no_grad():
                vl = float(_masked_mse(self.model(va[0], va[1])[0], va[2], va[3]))
            if vl < best_loss - 1e-5:
                best, best_loss, wait = copy.deepcopy(self.model.state_dict()), vl, 0
            else:
                wait += 1
                if wait >= self.cfg["patience"]:
                    break
        if best is not None:
            self.model.load_state_dict(best)
        return self

    def _tensors(self, xs, avail, y=None):
        t = [torch.as_tensor(x, dtype=torch.float32) for x in xs]
        a = torch.as_tensor(avail, dtype=torch.bool)
        if y is None:
            return t, a
        ys = (y - self.mu) / self.sd
        m = np.isfinite(ys)
        return t, a, torch.as_tensor(np.where(m, ys, 0.0), dtype=torch.float32), torch.as_tensor(m, dtype=torch.float32)

    @torch.no_grad()
    def predict(self, xs, avail) -> np.ndarray:
        """Predictions in the targets' units [n, targets]."""
        self.model.eval()
        t, a = self._tensors(xs, avail)
        return self.model(t, a)[0].numpy() * self.sd + self.mu

    @torch.no_grad()
    def gate_weights(self, xs, avail) -> np.ndarray:
        """The MoE gate's weights [n, experts, targets]."""
        self.model.eval()
        t, a = self._tensors(xs, avail)
        return self.model.weights(t, a).numpy()
