"""Benchmark: skytext's embedding and training throughput against a bare open_clip loop, same model and batch.

Both sides run in this one process on the same seeded demo images (``skytext.sources.sky_demo``, written to a temp
dir), the same architecture, batch size, device, precision and thread count; ratios are ours / bare.

Embedding (target ratio >= 0.95)
    ours: ``skytext.align.embed.embed_images`` on the image paths (DataLoader over ``ImageSet``: PIL decode,
    resize + centre crop, normalise, ``encode_image`` under inference mode, features to CPU, float16).
    bare: a plain loop over the same paths and batches: PIL decode with the same resize/crop (written
    inline here), stack, normalise, ``open_clip`` ``encode_image(normalize=True)`` of the very same
    weights under ``torch.inference_mode``, features to CPU. One warm-up pass each, then ``--repeats``
    interleaved timed passes over all images; images/s from each side's fastest pass. The two outputs are
    compared (max abs difference) to show the work is the same.

Training (target ratio >= 0.9)
    ours: ``skytext.align.train.train`` with a ``TrainConfig`` whose ``eval_every``/``checkpoint_every`` exceed
    the step count and no validation set. Model build, image caching and the final save are one-time, so
    each repeat runs ``train`` twice, for ``W`` and for ``W + S`` steps (fresh checkpoint dirs), and the
    steady-state step time is ``(min T(W+S) - min T(W)) / S``. Its steps include batch sampling,
    per-image augmentation, sentence subsampling, tokenisation, the grouped InfoNCE loss, grad clipping,
    the LR schedule and per-step logging.
    bare: ``open_clip.create_model`` (same arch, same seed, random init), AdamW with the same
    hyper-parameters, images pre-decoded at the model's input size (uint8 on CPU), and per step: slice a
    batch, move + normalise, tokenise the captions, ``encode_image``/``encode_text`` (normalised),
    ``exp(logit_scale) * fi @ ft.T``, cross-entropy both ways, backward, step. ``W`` warm-up steps, then
    ``--repeats`` timed blocks of ``S`` steps (interleaved with ours); steps/s from the fastest block.

bf16 autocast is used on CUDA (``--precision auto``) for both sides. Timings synchronise CUDA.

    .venv/bin/python benchmarks/bench_throughput.py --quick          # tiny model on CPU, < ~90 s
    .venv/bin/python benchmarks/bench_throughput.py                  # 512 images, batch 64
    .venv/bin/python benchmarks/bench_throughput.py --arch ViT-B-16 --config-file none --device cuda \\
        --batch-size 256 --images 2048 --threads 8                  # a GPU machine (pretrained=None)
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars off (ours prints one at most every 10 s anyway)

import numpy as np  # noqa: E402
import open_clip  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from skytext.sources import sky_demo as demo  # noqa: E402
from skytext.align.embed import embed_images  # noqa: E402
from skytext.align.models import ModelSpec, build_model, pick_device, register_config  # noqa: E402
from skytext.align.train import TrainConfig, train  # noqa: E402
from skytext.core.config import defaults  # noqa: E402

DEFAULTS = {"images": 512, "batch_size": 64, "steps": 30, "warmup": 3, "repeats": 3}
QUICK = {"images": 256, "batch_size": 32, "steps": 16, "warmup": 2, "repeats": 3}
IMAGES_PER_PROPOSAL = 4


# ------------------------------------------------------------------------------------------------ helpers
def use_bf16(device: torch.device, precision: str) -> bool:
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def autocast(device: torch.device, precision: str):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16(device, precision))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_demo(n: int, size: int, out: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """``n`` demo observations (``path``, ``proposal_id``) rendered at ``size`` px, and their captions."""
    cfg = demo.DemoConfig(n_proposals=math.ceil(n / IMAGES_PER_PROPOSAL), min_images=IMAGES_PER_PROPOSAL,
                          max_images=IMAGES_PER_PROPOSAL, image_size=size, seed=0)
    obs = demo.observations_for_shard(cfg, 0, 1, out).iloc[:n].reset_index(drop=True)
    props = demo.proposals(cfg)
    return obs, dict(zip(props["proposal_id"].astype(str), props["abstract"].astype(str)))


# ------------------------------------------------------------------------------------------------ bare open_clip
def bare_decode(path: str, size: int) -> torch.Tensor:
    """PIL decode, shorter side to ``size`` (bicubic), centre crop; uint8 [3, size, size]."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1)


class BareImages(torch.utils.data.Dataset):
    def __init__(self, paths, size):
        self.paths, self.size = list(paths), size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return bare_decode(self.paths[i], self.size)


def bare_normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x.float() / 255.0 - mean) / std


def bare_embed(clip, paths, size, mean, std, batch, workers, device, precision) -> np.ndarray:
    """The bare embedding loop (``workers > 0``: the same decode in a plain DataLoader, as ours)."""
    if workers > 0:
        batches = torch.utils.data.DataLoader(BareImages(paths, size), batch_size=batch, num_workers=workers,
                                              pin_memory=device.type == "cuda")
    else:
        batches = (torch.stack([bare_decode(p, size) for p in paths[s : s + batch]])
                   for s in range(0, len(paths), batch))
    out = []
    with torch.inference_mode():
        for x in batches:
            x = bare_normalize(x.to(device, non_blocking=True), mean, std)
            with autocast(device, precision):
                out.append(clip.encode_image(x, normalize=True).float().cpu())
    return torch.cat(out).numpy()


class BareTrainer:
    """Minimal open_clip contrastive training loop on pre-decoded images, tokenising every step."""

    def __init__(self, arch, images: torch.Tensor, texts: list[str], mean, std, batch, device, precision, tcfg):
        torch.manual_seed(0)
        self.model = open_clip.create_model(arch, pretrained=None).to(device).train()
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay,
                                     betas=(0.9, 0.98), eps=1e-6)
        self.images, self.texts, self.mean, self.std = images, texts, mean, std
        self.batch, self.device, self.precision = batch, device, precision
        self.perm, self.pos = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0)), 0

    def step(self) -> torch.Tensor:
        if self.pos + self.batch > len(self.perm):
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += self.batch
        x = bare_normalize(self.images[idx].to(self.device, non_blocking=True), self.mean, self.std)
        tok = self.tokenizer([self.texts[i] for i in idx.tolist()]).to(self.device)
        with autocast(self.device, self.precision):
            fi = self.model.encode_image(x, normalize=True)
            ft = self.model.encode_text(tok, normalize=True)
        logits = self.model.logit_scale.exp() * fi.float() @ ft.float().t()
        labels = torch.arange(len(idx), device=self.device)
        loss = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss

    def timed(self, steps: int) -> float:
        sync(self.device)
        t = time.perf_counter()
        for _ in range(steps):
            self.step()
        sync(self.device)
        return time.perf_counter() - t


# ------------------------------------------------------------------------------------------------ benchmarks
def bench_embed(args, spec, device, obs) -> dict:
    model, preprocess, _ = build_model(spec)
    model.eval().to(device)
    clip, size = model.clip, preprocess["image_size"]
    mean = torch.tensor(preprocess["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(preprocess["std"], device=device).view(1, 3, 1, 1)
    paths = obs["path"].tolist()

    def ours():
        return embed_images(model, preprocess, paths, args.batch_size, args.workers, device, args.precision, "float16")

    def bare():
        return bare_embed(clip, paths, size, mean, std, args.batch_size, args.workers, device, args.precision)

    def timed(fn):
        sync(device)
        t = time.perf_counter()
        res = fn()
        sync(device)
        return time.perf_counter() - t, res

    _, a = timed(ours)  # warm-up (and file cache)
    _, b = timed(bare)
    diff = float(np.abs(a.astype(np.float32) - b).max())
    t_ours, t_bare = [], []
    for _ in range(args.repeats):
        t_ours.append(timed(ours)[0])
        t_bare.append(timed(bare)[0])
    n = len(paths)
    return {"ours": n / min(t_ours), "bare": n / min(t_bare), "max_abs_diff": diff}


def train_config(**overrides) -> TrainConfig:
    """The schema's default ``images.train`` section with ``overrides`` (the schema is the only home of defaults)."""
    return TrainConfig.from_config({**defaults("images.train"), **overrides}, seed=0)


def bench_train(args, spec, device, obs, captions, tmp: Path) -> dict:
    preprocess = build_model(spec)[1]
    size = preprocess["image_size"]
    W, S = args.warmup, args.steps

    def ours(steps: int, tag: str) -> float:
        cfg = train_config(steps=steps, batch_size=args.batch_size, warmup_steps=1, eval_every=10**9,
                           checkpoint_every=10**9, precision=args.precision, device=str(device), workers=args.workers)
        run = tmp / tag
        run.mkdir()
        sync(device)
        t = time.perf_counter()
        train(spec, cfg, obs, obs.iloc[:0], captions, str(run / "model.pt"), str(run / "metrics.csv"),
              str(run / "ckpt"))
        sync(device)
        return time.perf_counter() - t

    images = torch.stack([bare_decode(p, size) for p in obs["path"]])
    texts = [captions[p] for p in obs["proposal_id"].astype(str)]
    mean = torch.tensor(preprocess["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(preprocess["std"], device=device).view(1, 3, 1, 1)
    bare = BareTrainer(spec.arch, images, texts, mean, std, args.batch_size, device, args.precision, train_config())
    bare.timed(W)  # warm-up

    short, long, blocks = [], [], []
    for r in range(args.repeats):
        short.append(ours(W, f"short{r}"))
        long.append(ours(W + S, f"long{r}"))
        blocks.append(bare.timed(S))
    step_ours = (min(long) - min(short)) / S
    if step_ours <= 0:
        raise SystemExit("ours: timing noise exceeded the step time; raise --steps")
    return {"ours": 1.0 / step_ours, "bare": S / min(blocks), "ours_setup_s": min(short) - W * step_ours}


# ------------------------------------------------------------------------------------------------ main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="skytext-tiny")
    ap.add_argument("--config-file", default="resources/model_configs/skytext-tiny.json",
                    help="model config JSON (relative to the repo root) or 'none' for a built-in open_clip arch")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--batch-size", type=int,
                    help=f"default {DEFAULTS['batch_size']} ({QUICK['batch_size']} with --quick)")
    ap.add_argument("--steps", type=int, help=f"timed training steps (default {DEFAULTS['steps']})")
    ap.add_argument("--warmup", type=int, help=f"untimed warm-up training steps (default {DEFAULTS['warmup']})")
    ap.add_argument("--repeats", type=int, help=f"timed repeats, fastest kept (default {DEFAULTS['repeats']})")
    ap.add_argument("--images", type=int, help=f"demo images to generate (default {DEFAULTS['images']})")
    ap.add_argument("--demo-size", type=int, help="demo image size in px (default max(96, model input size))")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (both sides)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1: a quiet CPU measurement)")
    ap.add_argument("--quick", action="store_true", help="small run for this CPU (under ~90 s)")
    args = ap.parse_args(argv)
    for k, v in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.images < args.batch_size:
        ap.error("--images must be at least --batch-size")

    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that no pretrained weights were loaded
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    config_file = None if str(args.config_file).lower() == "none" else str((ROOT / args.config_file).resolve())
    register_config(args.arch, config_file)
    spec = ModelSpec(arch=args.arch, config_file=config_file, pretrained=None, mode="full", weights=None, caption=None,
                     head_hidden=defaults("images.model")["head_hidden"], seed=0)
    input_size = build_model(spec)[1]["image_size"]
    demo_size = args.demo_size or max(96, input_size)
    prec = "bf16 autocast" if use_bf16(device, args.precision) else "fp32"

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skytext-bench-") as tmp:
        obs, captions = make_demo(args.images, demo_size, Path(tmp) / "images")
        emb = bench_embed(args, spec, device, obs)
        trn = bench_train(args, spec, device, obs, captions, Path(tmp))
    wall = time.perf_counter() - t0

    b = args.batch_size
    print(f"\n{args.arch} on {device} ({prec}), batch {b}, threads {args.threads}, workers {args.workers}, "
          f"{len(obs)} demo images {demo_size}px -> {input_size}px input; train {args.warmup}+{args.steps} steps, "
          f"best of {args.repeats}")
    print(f"{'':8}{'ours':>26}{'bare open_clip':>26}{'ratio':>8}{'target':>9}")
    er, tr = emb["ours"] / emb["bare"], trn["ours"] / trn["bare"]
    print(f"{'embed':8}{emb['ours']:>19.1f} img/s{emb['bare']:>19.1f} img/s{er:>8.3f}{'>= 0.95':>9}")
    print(f"{'train':8}{trn['ours']:>18.3f} step/s{trn['bare']:>18.3f} step/s{tr:>8.3f}{'>= 0.90':>9}")
    print(f"{'':8}{trn['ours'] * b:>19.1f} img/s{trn['bare'] * b:>19.1f} img/s")
    print(f"embed outputs max |ours - bare| = {emb['max_abs_diff']:.2e}; ours' one-time train setup "
          f"{trn['ours_setup_s']:.2f} s (excluded); total wall {wall:.1f} s")
    print(f"embed ratio {er:.2f} | train ratio {tr:.2f}")


if __name__ == "__main__":
    main()
