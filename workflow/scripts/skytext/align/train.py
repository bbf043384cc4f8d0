"""Contrastive fine-tuning of a :class:`~skytext.align.models.SkyClip` on observation/caption pairs.

Deterministic and resumable by construction: the images of step ``s`` and every random draw of that step
(augmentation, sentence subsampling) are functions of ``(seed, s)`` alone, so a run killed after a
checkpoint and resumed from it takes exactly the steps an uninterrupted run takes. Checkpoints
(``last.pt``: weights, optimiser, step, history) are written atomically every ``checkpoint_every`` steps
and loaded with ``torch.load(weights_only=True)``; the best weights by validation loss are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from skytext.align.data import ImageSet, SentenceFitter, augment, normalize, resize
from skytext.align.loss import clip_loss
from skytext.align.distributed import World, local_device, wrap
from skytext.align.models import ModelSpec, SkyClip, autocast, build_model, pick_device

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """The ``images.train`` config section, typed. No defaults here: they live in the schema only
    (``workflow/schemas/studies/images.schema.yaml``); build it with :meth:`from_config` from a checked config
    (or ``skytext.core.config.defaults("images.train")`` in tests)."""

    steps: int
    batch_size: int
    accum_steps: int  # micro-batches per step; negatives still span the whole batch
    lr: float
    weight_decay: float
    warmup_steps: int
    schedule: str  # constant | cosine
    grad_clip: float
    eval_every: int
    checkpoint_every: int
    rot90: bool
    flip: bool
    crop_scale: tuple[float, float]
    sentence_sample: bool
    precision: str  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
    device: str
    workers: int
    cache_images_mb: int  # keep decoded training images in memory below this size
    seed: int
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict, seed: int) -> "TrainConfig":
        """From the complete ``images.train`` section (keys the trainer does not use, e.g. ``modes``, are skipped)."""
        return cls.from_dict({**section, "seed": seed})

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """From a dict holding every field (``seed`` included); a missing one is a ``KeyError``."""
        known = [f for f in cls.__dataclass_fields__ if f != "extra"]
        missing = [k for k in known if k not in d]
        if missing:
            raise KeyError(f"train config lacks {', '.join(missing)} (build it from the schema's defaults)")
        kw = {k: d[k] for k in known}
        kw["crop_scale"] = tuple(kw["crop_scale"])
        return cls(**kw, extra=dict(d.get("extra") or {}))


# ---------------------------------------------------------------------------------------------------------
# deterministic sampling
# ---------------------------------------------------------------------------------------------------------


def _seed(*keys) -> int:
    return int.from_bytes(hashlib.sha256(json.dumps(keys).encode()).digest()[:8], "little")


def batch_indices(step: int, n: int, batch: int, seed: int) -> np.ndarray:
    """Indices of the items in step ``step``: consecutive slices of per-epoch seeded permutations."""
    start = step * batch
    out = []
    while len(out) < batch:
        epoch, pos = divmod(start + len(out), n)
        perm = np.random.default_rng(_seed(seed, "epoch", epoch)).permutation(n)
        out.extend(perm[pos : pos + batch - len(out)].tolist())
    return np.asarray(out, dtype=np.int64)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of step ``step``'s random draws, a function of ``(seed, step)`` alone."""
    return torch.Generator().manual_seed(_seed(seed, "step", step) % (2**63))


def shuffled_captions(proposal_ids: list[str], captions: dict[str, str], seed: int) -> dict[str, str]:
    """The shuffled-pairs control: each training proposal gets another proposal's caption."""
    ids = sorted(set(proposal_ids))
    perm = np.random.default_rng(_seed(seed, "shuffle")).permutation(len(ids))
    return {ids[i]: captions[ids[j]] for i, j in enumerate(perm)}


# ---------------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------------


def param_groups(model: torch.nn.Module, weight_decay: float):
    """AdamW groups: matrices decay, biases/norms/embeddings/logit scale do not (frozen weights left out)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "logit_scale" in name or "embedding" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """The learning-rate multiplier at ``step``: linear warm-up, then constant or cosine decay to 0."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))
    return 1.0




def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _Images:
    """Training images by index: decoded once into memory when small, else loaded per batch."""

    def __init__(self, paths: list[str], size: int, cache_mb: int, workers: int):
        self.set = ImageSet(paths, size)
        self.cache = None
        self.workers = workers
        if len(paths) * 3 * size * size / 2**20 <= cache_mb:
            loader = torch.utils.data.DataLoader(self.set, batch_size=256, num_workers=workers)
            self.cache = torch.cat([x for x, _ in loader]) if len(paths) else torch.empty(0, 3, size, size, dtype=torch.uint8)

    def get(self, idx: np.ndarray) -> torch.Tensor:
        """uint8 images ``[len(idx), 3, H, W]`` of the items ``idx``."""
        if self.cache is not None:
            return self.cache[torch.as_tensor(idx)]
        return torch.stack([self.set[int(i)][0] for i in idx])


def _tokens(tokenizer, texts: list[str], device) -> torch.Tensor:
    return tokenizer(texts).to(device)


@torch.no_grad()
def evaluate(model: SkyClip, images: torch.Tensor, groups: np.ndarray, texts: list[str], tokenizer,
             preprocess: dict, device, batch: int, precision: str) -> dict:
    """Validation loss (mean over batches) and image->text top-10 % accuracy over unique proposals."""
    model.eval()
    size = preprocess["image_size"]
    feats_i, feats_t = [], []
    for s in range(0, len(images), batch):
        x = normalize(resize(images[s : s + batch].to(device), size), preprocess["mean"], preprocess["std"])
        with autocast(device, precision):
            feats_i.append(model.encode_image(x).float())
            feats_t.append(model.encode_text(_tokens(tokenizer, texts[s : s + batch], device)).float())
    fi, ft = torch.cat(feats_i), torch.cat(feats_t)
    g = torch.as_tensor(groups, device=fi.device)
    losses = [float(clip_loss(fi[s : s + batch], ft[s : s + batch], model.logit_scale, g[s : s + batch]))
              for s in range(0, len(fi), batch) if len(fi[s : s + batch]) > 1]
    # retrieval over unique texts (one per proposal)
    _, first = np.unique(groups, return_index=True)
    keys = ft[torch.as_tensor(first, device=ft.device)]
    sims = fi @ keys.t()
    key_of = {int(groups[j]): k for k, j in enumerate(first)}
    true = torch.as_tensor([key_of[int(x)] for x in groups], device=fi.device)
    rank = 1 + (sims > sims.gather(1, true[:, None])).sum(1)
    cut = math.ceil(0.10 * len(first))
    model.train()
    return {"val_loss": float(np.mean(losses)) if losses else float("nan"),
            "val_top10pct": float((rank <= cut).float().mean())}


@dataclass
class _Data:
    """The training inputs of one run, prepared once: images, captions, group codes and (main rank) validation."""

    pids: list[str]
    groups: np.ndarray
    codes: dict[str, int]
    captions: dict[str, str]
    images: "_Images"
    val: tuple | None  # (images, groups, texts) on the main rank when there are at least 2 val images


def _prepare(spec: ModelSpec, cfg: TrainConfig, train_obs: pd.DataFrame, val_obs: pd.DataFrame,
             captions: dict[str, str], size: int, fitter: SentenceFitter, world: World) -> _Data:
    missing = sorted(set(train_obs["proposal_id"]) - set(captions))
    if missing:
        raise ValueError(f"{len(missing)} training proposals have no caption, e.g. {missing[0]}")
    if spec.mode == "shuffled":
        captions = {**captions, **shuffled_captions(list(train_obs["proposal_id"]), captions, cfg.seed)}
    pids = train_obs["proposal_id"].astype(str).tolist()
    codes = {p: i for i, p in enumerate(sorted(set(pids) | set(val_obs["proposal_id"].astype(str))))}
    load_size = max(size, int(round(size / max(cfg.crop_scale[0], 1e-3))))
    images = _Images(train_obs["path"].tolist(), load_size, cfg.cache_images_mb, cfg.workers)
    val = None  # validation runs on the main rank only
    if world.is_main:
        val_images = ImageSet(val_obs["path"].tolist(), size)
        if len(val_images) > 1:
            val = (torch.stack([val_images[i][0] for i in range(len(val_images))]),
                   np.asarray([codes[p] for p in val_obs["proposal_id"].astype(str)]),
                   [fitter.leading(captions[p]) for p in val_obs["proposal_id"].astype(str)])
    return _Data(pids, np.asarray([codes[p] for p in pids]), codes, captions, images, val)


@dataclass
class _State:
    """What a checkpoint holds besides the weights: where training stands."""

    step: int = 0
    history: list = field(default_factory=list)
    best: float = math.inf


def _resume(last: Path, fingerprint: str, model, opt, sched) -> _State:
    """The state saved in ``last`` when it belongs to this configuration (weights, optimiser, schedule loaded)."""
    if not last.exists():
        return _State()
    state = torch.load(last, map_location="cpu", weights_only=True)
    if "fingerprint" not in state or state["fingerprint"] != fingerprint:
        log.info("ignoring checkpoint %s: it belongs to another configuration", last)
        return _State()
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    log.info("resumed from %s at step %d", last, int(state["step"]))
    return _State(int(state["step"]), list(state["history"]), float(state["best"]))


def _micro_batch(cfg: TrainConfig, world: World) -> tuple[slice, int, int]:
    """This rank's slice of every batch, its length and the micro-batch size for gradient accumulation."""
    mine = world.part(cfg.batch_size)
    local = mine.stop - mine.start
    if local % cfg.accum_steps:
        raise ValueError(f"train.batch_size {cfg.batch_size} does not split into {cfg.accum_steps} equal micro-batches "
                         f"on each of {world.size} processes")
    return mine, local, local // cfg.accum_steps


def _backward(model, net, x, tok, g, cfg: TrainConfig, world: World, mine: slice, local: int, micro: int):
    """Forward and backward of one step; returns the loss. Negatives span the whole (gathered) batch."""
    if cfg.accum_steps == 1:
        with autocast(x.device, cfg.precision):
            fi, ft, scale = net(x, tok)
        loss = clip_loss(world.gather(fi), world.gather(ft), world.shared(scale), g)
        (loss * world.size).backward()
        return loss
    # open_clip-style accumulation: cache all features, then recompute one micro-batch at a time with grad
    chunks = [slice(s, s + micro) for s in range(0, local, micro)]
    with torch.no_grad(), autocast(x.device, cfg.precision):
        cache_i = world.gather(torch.cat([model.encode_image(x[c]) for c in chunks]))
        cache_t = world.gather(torch.cat([model.encode_text(tok[c]) for c in chunks]))
    for j, c in enumerate(chunks):
        sync = net.no_sync() if world.size > 1 and j < len(chunks) - 1 else contextlib.nullcontext()
        with sync:
            with autocast(x.device, cfg.precision):
                fi_j, ft_j, scale = net(x[c], tok[c])
            at = slice(mine.start + c.start, mine.start + c.stop)
            fi = torch.cat([cache_i[: at.start], fi_j.to(cache_i.dtype), cache_i[at.stop :]])
            ft = torch.cat([cache_t[: at.start], ft_j.to(cache_t.dtype), cache_t[at.stop :]])
            loss = clip_loss(fi, ft, world.shared(scale, len(chunks)), g)
            (loss * world.size).backward()
    return loss


def _batch(data: _Data, cfg: TrainConfig, step: int, size: int, preprocess: dict, fitter: SentenceFitter,
           tokenizer, device, mine: slice):
    """The step's inputs: this rank's augmented images, tokens, and the whole batch's group codes."""
    gen = step_generator(cfg.seed, step)
    idx = batch_indices(step, len(data.pids), cfg.batch_size, cfg.seed)
    x = augment(data.images.get(idx[mine]).to(device), size, gen, cfg.rot90, cfg.flip, cfg.crop_scale,
                rows=mine, total=len(idx))
    x = normalize(x, preprocess["mean"], preprocess["std"])
    caps = [data.captions[data.pids[i]] for i in idx]
    texts = [fitter.sample(c, gen) if cfg.sentence_sample else fitter.leading(c) for c in caps]
    return x, _tokens(tokenizer, texts[mine], device), torch.as_tensor(data.groups[idx], device=device)


def _finish(model, ckpt_dir: Path, best: float, out_weights: str) -> None:
    """Write the best weights by validation loss (the last ones when there was no validation) to ``out_weights``."""
    use = ckpt_dir / ("best.pt" if (ckpt_dir / "best.pt").exists() and math.isfinite(best) else "last.pt")
    weights = torch.load(use, map_location="cpu", weights_only=True)
    if "fingerprint" in weights:  # a full checkpoint: take its weights
        weights = weights["model"]
    _atomic_save(weights, Path(out_weights))


def train(spec: ModelSpec, cfg: TrainConfig, train_obs: pd.DataFrame, val_obs: pd.DataFrame,
          captions: dict[str, str], out_weights: str, out_metrics: str, ckpt_dir: str,
          stop_after: int | None = None, world: World | None = None, progress=None) -> pd.DataFrame:
    """Train and write the best weights to ``out_weights`` and the history to ``out_metrics`` (CSV).

    ``train_obs``/``val_obs`` need ``path`` and ``proposal_id``; ``captions`` maps proposal_id -> text.
    ``stop_after`` stops (as if killed) after that many steps of this call -- for tests of resume.
    ``world`` is this process's place among data-parallel ranks (see :mod:`skytext.align.distributed`); only the
    main rank evaluates and writes checkpoints and outputs. ``progress`` (main rank) receives one line per
    evaluation, e.g. to show on the terminal while Snakemake runs.
    """
    world = world or World()
    device = local_device(world, pick_device(cfg.device))
    torch.manual_seed(cfg.seed)
    model, preprocess, tokenizer = build_model(spec)
    model.to(device).train()
    size = preprocess["image_size"]
    fitter = SentenceFitter(tokenizer, getattr(tokenizer, "context_length", 77))
    data = _prepare(spec, cfg, train_obs, val_obs, captions, size, fitter, world)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = hashlib.sha256(json.dumps([asdict(spec), asdict(cfg), data.pids, sorted(data.codes)],
                                            default=str).encode()).hexdigest()
    st = _resume(ckpt_dir / "last.pt", fingerprint, model, opt, sched)
    if world.is_main and not (ckpt_dir / "best.pt").exists() and st.step == 0:
        _atomic_save(model.state_dict(), ckpt_dir / "best.pt")
    net = wrap(model, world, device)
    mine, local, micro = _micro_batch(cfg, world)
    done_here = 0
    while st.step < cfg.steps:
        x, tok, g = _batch(data, cfg, st.step, size, preprocess, fitter, tokenizer, device, mine)
        opt.zero_grad(set_to_none=True)
        loss = _backward(model, net, x, tok, g, cfg, world, mine, local, micro)
        _optimise(model, opt, sched, cfg)
        st.step += 1
        done_here += 1
        row = {"step": st.step, "lr": opt.param_groups[0]["lr"], "train_loss": float(loss.detach()),
               "logit_scale": float(model.logit_scale.detach().exp())}
        if data.val is not None and (st.step % cfg.eval_every == 0 or st.step == cfg.steps):
            row.update(evaluate(model, *data.val, tokenizer, preprocess, device, cfg.batch_size, cfg.precision))
            _report(row, cfg.steps, spec, progress)
            if row["val_loss"] < st.best:
                st.best = row["val_loss"]
                _atomic_save(model.state_dict(), ckpt_dir / "best.pt")
        st.history.append(row)
        if world.is_main and (st.step % cfg.checkpoint_every == 0 or st.step == cfg.steps):
            _atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                          "step": st.step, "history": st.history, "best": st.best, "fingerprint": fingerprint},
                         ckpt_dir / "last.pt")
        if stop_after is not None and done_here >= stop_after:
            return pd.DataFrame(st.history)
    metrics = pd.DataFrame(st.history)
    if world.is_main:
        _finish(model, ckpt_dir, st.best, out_weights)
        metrics.to_csv(out_metrics, index=False)
    return metrics


def _optimise(model, opt, sched, cfg: TrainConfig) -> None:
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
    opt.step()
    sched.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100.0))


def _report(row: dict, steps: int, spec: ModelSpec, progress) -> None:
    log.info("step %d %s", row["step"], json.dumps(row))
    if progress is not None:
        progress(f"train {spec.mode}-{spec.caption}: step {row['step']}/{steps} loss {row['train_loss']:.3f} "
                 f"val_loss {row['val_loss']:.3f} val top-10% {row['val_top10pct']:.3f}")
