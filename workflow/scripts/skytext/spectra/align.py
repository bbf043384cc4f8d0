"""Projection heads that align the spectral latent with the pooled text embedding (symmetric InfoNCE of
:func:`skytext.align.loss.clip_loss`), an ensemble over seeds, and the shuffled-pairs control.

The ensemble's shared vectors are the per-seed L2-normalised head outputs concatenated and scaled by
1/sqrt(seeds): their dot product is the mean over seeds of each seed's cosine similarity.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from skytext.align.loss import clip_loss
from skytext.core.smk import threads_for_torch


class Head(nn.Module):
    """An MLP projection head with L2-normalised output."""

    def __init__(self, d_in: int, hidden: int, dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x):
        """Unit vectors [n, dim] of inputs [n, d_in]."""
        return nn.functional.normalize(self.net(x), dim=-1)


class Pair(nn.Module):
    """A spectrum head, a text head and the learnable log temperature scale of their InfoNCE loss."""

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
def tower(heads: list[Head], x: np.ndarray) -> np.ndarray:
    """One tower of an ensemble: each head's unit vectors side by side, divided by sqrt(len(heads)) (unit rows
    [n, dim*len(heads)], float32)."""
    return (np.concatenate([h(torch.as_tensor(x, dtype=torch.float32)).numpy() for h in heads], 1)
            / math.sqrt(len(heads))).astype(np.float32)


def project(models: list[Pair], spec: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble shared vectors (spectrum tower [n, dim*seeds], text tower [m, dim*seeds]), L2-normalised."""
    return tower([m.spec for m in models], spec), tower([m.text for m in models], text)


def text_head_arrays(models: list[Pair]) -> dict[str, np.ndarray]:
    """The text heads' weights as plain arrays (saved in ensemble.npz; :func:`text_heads` rebuilds the heads
    from them, so a query can be embedded into the shared space): for member k = 0..len(models)-1, ``text_head{k}_w0`` [hidden, d_in] and
    ``text_head{k}_b0`` [hidden] (the first Linear), ``text_head{k}_w1`` [dim, hidden] and
    ``text_head{k}_b1`` [dim] (the last Linear). Member k's text vector of a sentence embedding x [d_in] is
    h = GELU(w0 @ x + b0) (the exact, erf GELU: 0.5 h (1 + erf(h / sqrt 2)); dropout is off at inference),
    y = w1 @ h + b1, y / ||y||; the ensemble's text vector is the concatenation over members of each
    member's unit vector, divided by sqrt(len(models)) -- exactly :func:`project`'s text tower."""
    out = {}
    for k, m in enumerate(models):
        first, last = m.text.net[0], m.text.net[-1]
        for name, lin in (("0", first), ("1", last)):
            out[f"text_head{k}_w{name}"] = lin.weight.detach().numpy().astype(np.float32)
            out[f"text_head{k}_b{name}"] = lin.bias.detach().numpy().astype(np.float32)
    return out


def text_heads(arrays: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> list[Head]:
    """The text heads (eval mode) from their saved arrays, ``(w0, b0, w1, b1)`` per member
    (:func:`text_head_arrays`); :func:`tower` then embeds sentence embeddings into the shared space exactly as
    training's :func:`project` does."""
    heads = []
    for w0, b0, w1, b1 in arrays:
        head = Head(w0.shape[1], w0.shape[0], w1.shape[0], 0.0)
        first, last = head.net[0], head.net[-1]
        with torch.no_grad():
            for lin, w, b in ((first, w0, b0), (last, w1, b1)):
                lin.weight.copy_(torch.as_tensor(w))
                lin.bias.copy_(torch.as_tensor(b))
        heads.append(head.eval())
    return heads


def control_permutation(n: int, seed: int) -> np.ndarray:
    """A seeded derangement of ``n`` items (no item keeps its place): the shuffled control's source map."""
    order = np.random.default_rng([seed, 99]).permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)
    return perm


def training_pairs(latent, src, text, tmeta, papers, paper_ids, links, augmented, shuffle_seed: int | None):
    """(spectra, texts, group keys, spectrum source row of each pair) of the training split: each source's
    pooled text and, as augmentation, each of its individual papers (population papers only through the
    pooled text), then the same pairs with each Poisson-redrawn spectrum of ``augmented``. Pairs of one
    source share a key, so they are never each other's negatives.

    ``shuffle_seed`` (the control): every training source's texts are paired with the spectra of another
    training source (a derangement), so texts, keys, augmentation and batch structure stay exactly those of
    the model and only the spectrum-text correspondence is broken."""
    row_of = {s: i for i, s in enumerate(src["source_id"])}
    tr = (tmeta["split"] == "train").to_numpy()
    train_ids = tmeta["source_id"][tr].tolist()
    spec_row = {s: row_of[s] for s in train_ids}
    if shuffle_seed is not None:
        perm = control_permutation(len(train_ids), shuffle_seed)
        spec_row = {s: row_of[train_ids[p]] for s, p in zip(train_ids, perm)}
    key = dict(zip(tmeta["source_id"], tmeta["paper_set"]))
    pos = {t: i for i, t in enumerate(paper_ids)}
    per = links.groupby("text_id")["source_id"].transform("size") == 1
    lk = links[per & links["text_id"].isin(pos) & links["source_id"].isin(set(train_ids))]
    idx = [spec_row[s] for s in train_ids] + [spec_row[s] for s in lk["source_id"]]
    txt = np.r_[text[tr], papers[[pos[t] for t in lk["text_id"]]]].astype(np.float32)
    keys = tmeta["paper_set"][tr].tolist() + [key[s] for s in lk["source_id"]]
    spec, rows = [latent[idx]], list(idx)
    for aug in augmented:  # the same pairs with Poisson-redrawn spectra
        spec.append(aug[idx])
        rows += idx
    n_copies = len(spec)
    return (np.concatenate(spec).astype(np.float32), np.concatenate([txt] * n_copies), keys * n_copies,
            np.asarray(rows))


def train_variant(variant: str, latent, src, text, tmeta, pairs, cfg: dict, seed: int):
    """(spectrum-tower vectors of every source, text-tower vectors of every text row, per-seed copies, history,
    the trained models) of one variant trained on ``pairs`` (:func:`training_pairs`); the ensemble trains
    ``cfg["ensemble"]`` seeds."""
    row_of = {s: i for i, s in enumerate(src["source_id"])}
    rows = np.array([row_of[s] for s in tmeta["source_id"]])
    va = (tmeta["split"] == "val").to_numpy()
    spec_tr, text_tr, keys_tr, _ = pairs
    seeds = range(cfg["ensemble"]) if variant == "ensemble" else [0]
    models, hist, per_seed = [], [], {}
    for k in seeds:
        m, h = fit_pair(spec_tr, text_tr, keys_tr, latent[rows[va]], text[va],
                        tmeta["paper_set"][va].tolist(), cfg, seed * 1000 + k)
        models.append(m)
        hist += [{"variant": variant, "seed": k, **r} for r in h]
        s1, t1 = project([m], latent, text)
        per_seed[f"seed{k}_spec"], per_seed[f"seed{k}_text"] = s1, t1
    spec, txt = project(models, latent, text)
    return spec, txt, per_seed, hist, models


def run_align(latent: str, augmented: str, spectral_ids: str, text: str, text_ids: str, papers: str,
              paper_ids: str, links: str, variants: list[str], variant_paths: list[str], history_out: str,
              shared_out: str, shared_ids_out: str, align: dict, seed: int, threads: int) -> None:
    """Rule spectra_align: train every variant (the ensemble and the shuffled control) and write each one's
    shared vectors, and embed/shared.npy (the ensemble's spectrum tower). ensemble.npz also holds the text
    heads' weights (:func:`text_head_arrays`: ``text_head{k}_w0``, ``_b0``, ``_w1``, ``_b1``), from which
    :func:`text_heads` rebuilds the heads that put a query's sentence embedding into the shared space."""
    threads_for_torch(threads)
    z, src = np.load(latent), pd.read_parquet(spectral_ids)
    tx, tmeta = np.load(text), pd.read_parquet(text_ids)
    pv, pids = np.load(papers), pd.read_parquet(paper_ids)["text_id"].astype(str).tolist()
    lk, aug = pd.read_parquet(links), np.load(augmented)
    hist = []
    for variant, path in zip(variants, variant_paths):
        pairs = training_pairs(z, src, tx, tmeta, pv, pids, lk, aug, seed if variant == "shuffled" else None)
        print(f"{variant}: {len(pairs[0])} training pairs ({int((tmeta['split'] == 'train').sum())} pooled)")
        spec, txt, per_seed, h, models = train_variant(variant, z, src, tx, tmeta, pairs, align, seed)
        heads = text_head_arrays(models) if variant == "ensemble" else {}
        np.savez(path, spec=spec, text=txt, **per_seed, **heads)
        hist += h
        if variant == "ensemble":
            np.save(shared_out, spec)
            src.to_parquet(shared_ids_out, index=False)
    pd.DataFrame(hist).to_csv(history_out, index=False)
