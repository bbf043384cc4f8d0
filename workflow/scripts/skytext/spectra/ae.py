"""A transformer autoencoder of binned X-ray counts spectra, trained self-supervised with a Poisson loss.

Encoder: log1p(counts) cut into patches of ``patch`` channels -> linear tokens + position embeddings, a
[CLS] token, ``layers`` transformer layers, [CLS] -> ``latent`` numbers. Decoder: an MLP from the latent to
the log expected counts of every channel. Loss: Poisson negative log-likelihood of the observed counts
(the right noise model at a few counts per channel, where chi^2 fails).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from skytext.core.smk import threads_for_torch


class SpectralAE(nn.Module):
    """The transformer autoencoder: counts -> latent (:meth:`encode`) -> log expected counts per channel."""

    def __init__(self, n_channels: int, latent: int, patch: int, d_model: int, layers: int, heads: int):
        super().__init__()
        if n_channels % patch:
            raise ValueError(f"n_channels {n_channels} is not a multiple of autoencoder.patch {patch}")
        self.patch, self.n_tokens = patch, n_channels // patch
        self.embed = nn.Linear(patch, d_model)
        self.pos = nn.Parameter(torch.randn(1, self.n_tokens + 1, d_model) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.to_latent = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                                     nn.Linear(128, n_channels))

    def encode(self, counts: torch.Tensor) -> torch.Tensor:
        """The latent [n, latent] of counts spectra [n, channels]."""
        x = torch.log1p(counts).reshape(len(counts), self.n_tokens, self.patch)
        tok = torch.cat([self.cls.expand(len(x), -1, -1), self.embed(x)], dim=1) + self.pos
        return self.to_latent(self.encoder(tok)[:, 0])

    def forward(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log expected counts [n, channels], latent [n, latent])."""
        z = self.encode(counts)
        return self.decoder(z), z


def poisson_loss(log_rate: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean Poisson negative log-likelihood of ``counts`` under rates exp(``log_rate``)."""
    return F.poisson_nll_loss(log_rate, counts, log_input=True, full=False)


def build_autoencoder(n_channels: int, cfg: dict) -> SpectralAE:
    """A fresh :class:`SpectralAE` for ``n_channels`` channels from the autoencoder settings ``cfg``."""
    return SpectralAE(n_channels, cfg["latent"], cfg["patch"], cfg["d_model"], cfg["layers"], cfg["heads"])


def _batches(n: int, batch_size: int, gen: torch.Generator):
    order = torch.randperm(n, generator=gen)
    return [order[i: i + batch_size] for i in range(0, n, batch_size)]


def train_epoch(model: SpectralAE, opt, x: torch.Tensor, batch_size: int, gen: torch.Generator) -> float:
    """One epoch over ``x`` in shuffled batches; the mean training loss."""
    model.train()
    total = 0.0
    for idx in _batches(len(x), batch_size, gen):
        xb = x[idx]
        log_rate, _ = model(xb)
        loss = poisson_loss(log_rate, xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / max(len(x), 1)


@torch.no_grad()
def evaluate(model: SpectralAE, x: torch.Tensor, rows: int = 1024) -> float:
    """Mean Poisson loss of ``x`` (``rows`` spectra per pass); NaN when ``x`` is empty."""
    model.eval()
    if len(x) == 0:
        return float("nan")
    return float(sum(poisson_loss(model(x[i: i + rows])[0], x[i: i + rows]) * len(x[i: i + rows])
                     for i in range(0, len(x), rows)) / len(x))


def fit(train: np.ndarray, val: np.ndarray, cfg: dict, seed: int, checkpoint: str | Path | None = None):
    """(model with the best validation weights, history rows). Resumes from ``checkpoint`` when it holds
    the same configuration; writes it atomically after every epoch."""
    torch.manual_seed(seed)
    model = build_autoencoder(train.shape[1], cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"])
    xt, xv = torch.as_tensor(train, dtype=torch.float32), torch.as_tensor(val, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    state = {"epoch": 0, "history": [], "best": None, "best_loss": float("inf")}
    key = {"cfg": {k: cfg[k] for k in sorted(cfg) if k != "device"}, "seed": seed, "n": len(train)}
    if checkpoint and Path(checkpoint).exists():
        ck = torch.load(checkpoint, weights_only=True)  # tensors, numbers, strings and containers only
        if ck.get("key") == key:
            model.load_state_dict(ck["model"]), opt.load_state_dict(ck["opt"]), sched.load_state_dict(ck["sched"])
            gen.set_state(ck["gen"])
            state = ck["state"]
    for epoch in range(state["epoch"], cfg["epochs"]):
        tl = train_epoch(model, opt, xt, cfg["batch_size"], gen)
        sched.step()
        vl = evaluate(model, xv)
        state["history"].append({"epoch": epoch + 1, "train_loss": tl, "val_loss": vl})
        if not vl > state["best_loss"]:  # NaN (no validation data) keeps the latest
            state["best_loss"], state["best"] = vl, copy.deepcopy(model.state_dict())
        state["epoch"] = epoch + 1
        if checkpoint:
            tmp = f"{checkpoint}.tmp{os.getpid()}"
            torch.save({"key": key, "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "gen": gen.get_state(), "state": state}, tmp)
            os.replace(tmp, checkpoint)
    if state["best"] is not None:
        model.load_state_dict(state["best"])
    return model, state["history"]


@torch.no_grad()
def encode(model: SpectralAE, counts: np.ndarray, rows: int = 1024) -> np.ndarray:
    """The latent of every counts spectrum [n, latent] (``rows`` spectra per pass)."""
    model.eval()
    x = torch.as_tensor(counts, dtype=torch.float32)
    parts = [model.encode(x[i: i + rows]).numpy() for i in range(0, len(x), rows)]
    return np.concatenate(parts) if parts else np.zeros((0, model.to_latent[1].out_features), np.float32)


def standardised_latents(model: SpectralAE, counts: np.ndarray, split: np.ndarray, augment: int, seed: int):
    """(latent of every spectrum standardised by train statistics, [augment, n, latent] of Poisson redraws of
    the observed counts standardised alike: the projection heads' augmentation)."""
    z = encode(model, counts)
    train = z[split == "train"]
    mu, sd = train.mean(0), train.std(0) + 1e-9
    rng = np.random.default_rng([seed, 17])
    aug = [(encode(model, rng.poisson(counts).astype(np.float32)) - mu) / sd for _ in range(augment)]
    zs = ((z - mu) / sd).astype(np.float32)
    return zs, (np.stack(aug).astype(np.float32) if aug else np.zeros((0, *zs.shape), np.float32))


def run_autoencoder(counts: str, sources: str, model_out: str, history_out: str, latent_out: str,
                    augmented_out: str, spectral_out: str, spectral_ids_out: str, autoencoder: dict, seed: int,
                    checkpoint: str, threads: int) -> None:
    """Rule spectra_autoencoder: train the AE on the train split (val for early stopping); embed every source."""
    threads_for_torch(threads)
    x = np.load(counts)
    src = pd.read_parquet(sources)
    split = src["split"].to_numpy()
    model, history = fit(x[split == "train"], x[split == "val"], autoencoder, seed, checkpoint=checkpoint)
    torch.save({"state_dict": model.state_dict(), "config": autoencoder, "n_channels": x.shape[1]}, model_out)
    pd.DataFrame(history).to_csv(history_out, index=False)
    zs, aug = standardised_latents(model, x, split, autoencoder["augment"], seed)
    np.save(latent_out, zs)
    np.save(augmented_out, aug)
    np.save(spectral_out, (zs / np.linalg.norm(zs, axis=1, keepdims=True)).astype(np.float32))
    src[["source_id", "split"]].astype("string").to_parquet(spectral_ids_out, index=False)
    print(f"AE: {len(history)} epochs, final train {history[-1]['train_loss']:.4f} val {history[-1]['val_loss']:.4f}")
