"""Create, wrap, save and load the CLIP models the workflow trains and embeds with.

Architectures come from open_clip: any built-in name (``ViT-B-16``) with a ``pretrained`` tag
(``openai``, ``laion2b_s34b_b88k``) or a local checkpoint path, or a JSON config shipped in
``resources/model_configs/`` registered with :func:`open_clip.add_model_config` (the demo's tiny model).

A :class:`SkyClip` wraps the open_clip model for the training *modes*:

* ``full``     -- every weight trains;
* ``scratch``  -- same, but from a random initialisation even when a pretrained tag is configured;
* ``head``     -- both towers frozen; a small trainable MLP head on each side;
* ``shuffled`` -- like ``full``; the training pairs are permuted (a control, done by the data side).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

import open_clip
import torch
from torch import nn
from torch.nn import functional as F

MODES = ("full", "scratch", "head", "shuffled")
MAX_LOGIT_SCALE = 100.0  # CLIP clamps exp(log-scale) at 100
log = logging.getLogger(__name__)


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model; saved as ``model.json`` beside its weights."""

    arch: str  # open_clip architecture name
    config_file: str | None  # JSON config registered under ``arch`` (shipped configs); None = built-in arch
    pretrained: str | None  # open_clip tag or a checkpoint path; None = random init
    mode: str
    head_hidden: int
    weights: str | None  # our trained state dict (model.pt), None for an untrained base
    caption: str | None  # caption type trained on
    seed: int
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict, mode: str, caption: str | None, seed: int) -> "ModelSpec":
        """From the ``images.model`` leaves arch, config_file, pretrained, head_hidden (no defaults here)."""
        return cls(arch=section["arch"], config_file=section["config_file"], pretrained=section["pretrained"],
                   mode=mode, head_hidden=section["head_hidden"], weights=None, caption=caption, seed=seed)

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the spec as ``model.json``."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "ModelSpec":
        """The spec saved at ``path`` (a hand-written one may leave out ``weights`` and ``caption``: none)."""
        return cls(**{"weights": None, "caption": None, **json.loads(Path(path).read_text())})


def register_config(arch: str, config_file: str | os.PathLike | None) -> None:
    """Register a shipped model config with open_clip under ``arch`` (idempotent)."""
    if config_file is None:
        if arch not in open_clip.list_models():
            raise ValueError(f"model.arch {arch!r} is neither an open_clip architecture nor has a config_file")
        return
    # open_clip.add_model_config takes a path (file or folder) and registers the file's stem as the name
    path = Path(config_file)
    if path.stem != arch:
        raise ValueError(f"model config file {path} must be named {arch}.json to register as {arch!r}")
    open_clip.add_model_config(path)
    if arch not in open_clip.list_models():  # pragma: no cover - open_clip contract
        raise ValueError(f"could not register model config {path}")


def _is_path(tag: str | None) -> bool:
    return bool(tag) and (os.sep in tag or tag.endswith((".pt", ".pth", ".bin", ".safetensors")))


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load a checkpoint safely (tensors only) and return its state dict."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}


class SkyClip(nn.Module):
    """An open_clip model plus optional trainable heads; returns L2-normalised features."""

    def __init__(self, clip: nn.Module, mode: str, head_hidden: int):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"train mode {mode!r} unknown; choose one of {', '.join(MODES)}")
        self.clip = clip
        self.mode = mode
        dim = _embed_dim(clip)
        if mode == "head":
            for p in self.clip.parameters():
                p.requires_grad_(False)
            self.image_head = _mlp(dim, head_hidden)
            self.text_head = _mlp(dim, head_hidden)
            self.clip.logit_scale.requires_grad_(True)
        else:
            self.image_head = self.text_head = None

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features (through the image head in ``head`` mode)."""
        x = self.clip.encode_image(images)
        if self.image_head is not None:
            x = x + self.image_head(x)
        return F.normalize(x.float(), dim=-1)

    def encode_text(self, tokens: torch.Tensor, *, trim: bool = False) -> torch.Tensor:
        """L2-normalised text features (through the text head in ``head`` mode). ``trim``: the text tower runs
        only up to the batch's last end-of-text token where that gives the same features
        (:func:`trimmed_text_features`; inference, e.g. short queries padded to 77 tokens)."""
        x = trimmed_text_features(self.clip, tokens) if trim else self.clip.encode_text(tokens)
        if self.text_head is not None:
            x = x + self.text_head(x)
        return F.normalize(x.float(), dim=-1)

    @property
    def logit_scale(self) -> torch.Tensor:
        """The CLIP temperature's log (trainable in every mode)."""
        return self.clip.logit_scale

    def forward(self, images, tokens):
        """(image features, text features, log logit scale)."""
        return self.encode_image(images), self.encode_text(tokens), self.logit_scale


_TRIM_CHECKED: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


def trimmable(clip: nn.Module) -> bool:
    """Whether ``clip``'s text features may be computed on tokens cut after their end-of-text token: an
    open_clip ``CLIP`` whose ``encode_text`` is the library's own, with a causal attention mask (no position
    attends to a later one) and pooling at the end-of-text token (``argmax`` or ``eos``), whose cut features
    matched ``encode_text`` on a probe batch (checked once per model: a later open_clip whose ``encode_text``
    does more than :func:`trimmed_text_features` repeats is not trimmed)."""
    from open_clip.model import CLIP

    if clip in _TRIM_CHECKED:
        return _TRIM_CHECKED[clip]
    mask = getattr(clip, "attn_mask", None)
    ok = (isinstance(clip, CLIP) and type(clip).encode_text is CLIP.encode_text and isinstance(mask, torch.Tensor)
          and mask.ndim == 2 and getattr(clip, "text_pool_type", None) in ("argmax", "eos")
          and (clip.text_pool_type == "argmax" or getattr(clip, "text_eos_id", None) is not None))
    if ok:
        later = torch.ones(mask.shape, dtype=torch.bool, device=mask.device).triu(1)
        ok = bool(torch.equal(torch.isneginf(mask), later)) and bool(torch.isfinite(mask[~later]).all())
    if ok:
        try:
            ok = _probe_matches(clip)
        except Exception as exc:  # noqa: BLE001 - a tower the cut cannot run is encoded in full
            log.warning("text tower not trimmed: the probe failed (%s: %s)", type(exc).__name__, str(exc)[:200])
            ok = False
        else:
            if not ok:
                log.warning("text tower not trimmed: its cut features differ from encode_text's on the probe")
    _TRIM_CHECKED[clip] = ok
    return ok


def _probe_matches(clip: nn.Module) -> bool:
    """The cut features equal ``encode_text``'s, to the rounding of the tower's dtype (no autocast), on random
    tokens ending at positions 1-12."""
    n, vocab = int(clip.attn_mask.shape[0]), int(clip.vocab_size)
    end_id = vocab - 1 if clip.text_pool_type == "argmax" else int(clip.text_eos_id)
    g = torch.Generator().manual_seed(0)
    tokens = torch.zeros(4, n, dtype=torch.long)
    for row, end in enumerate((1, 3, 7, 12)):
        tokens[row, :end] = torch.randint(1, vocab - 2, (end,), generator=g)
        tokens[row, end] = end_id
    device = clip.attn_mask.device
    tol = max(1e-4, 64 * torch.finfo(clip.positional_embedding.dtype).eps)
    with torch.inference_mode(), torch.autocast(device.type, enabled=False):
        full, cut = clip.encode_text(tokens.to(device)).float(), _cut_text_features(clip, tokens.to(device)).float()
    return bool(torch.allclose(cut, full, rtol=tol, atol=tol * float(full.abs().max())))


def trimmed_text_features(clip: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``clip.encode_text(tokens)`` computed on the first ``L`` positions only, ``L`` being one past the batch's
    last end-of-text token, when :func:`trimmable`: with a causal mask the positions after it change no
    earlier one, and the features are read at the end-of-text token, so the result is the same (to float
    rounding) for a fraction of the work (a 12-token query padded to 77: about a sixth). Otherwise, and in
    training mode, ``clip.encode_text(tokens)`` itself. The features of a text depend on its batch's longest text
    at float rounding (the tower runs at that length)."""
    if tokens.ndim != 2 or tokens.shape[0] == 0 or clip.training or not trimmable(clip):
        return clip.encode_text(tokens)  # (in training mode: dropout, and no probe result to trust)
    return _cut_text_features(clip, tokens)


def _cut_text_features(clip: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    from open_clip.transformer import text_global_pool

    eos = getattr(clip, "text_eos_id", None)
    ends = (tokens == eos).int().argmax(dim=-1) if clip.text_pool_type == "eos" else tokens.argmax(dim=-1)
    n = int(ends.max()) + 1
    if n >= tokens.shape[1]:
        return clip.encode_text(tokens)
    cut = tokens[:, :n]
    cast = clip.transformer.get_cast_dtype()
    x = clip.token_embedding(cut).to(cast) + clip.positional_embedding[:n].to(cast)
    x = clip.ln_final(clip.transformer(x, attn_mask=clip.attn_mask[:n, :n]))
    x = text_global_pool(x, cut, clip.text_pool_type, eos_token_id=eos)
    if clip.text_projection is not None:
        x = clip.text_projection(x) if isinstance(clip.text_projection, nn.Linear) else x @ clip.text_projection
    return x


def _embed_dim(clip: nn.Module) -> int:
    with torch.no_grad():
        proj = getattr(clip, "text_projection", None)
        if isinstance(proj, torch.Tensor):
            return int(proj.shape[-1])
        if isinstance(proj, nn.Linear):
            return int(proj.out_features)
    return int(clip.visual.output_dim)


def _mlp(dim: int, hidden: int) -> nn.Module:
    head = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
    nn.init.zeros_(head[2].weight)  # starts as the identity (residual), so head-only begins at the base
    nn.init.zeros_(head[2].bias)
    return head


def build_model(spec: ModelSpec, load_weights: bool = True) -> tuple[SkyClip, dict, object]:
    """(model, preprocess config, tokenizer) for ``spec``; seeded so the same spec gives the same init."""
    register_config(spec.arch, spec.config_file)
    torch.manual_seed(spec.seed)
    pretrained = None if spec.mode == "scratch" else spec.pretrained
    tag = None if _is_path(pretrained) else pretrained
    clip = open_clip.create_model(spec.arch, pretrained=tag)
    if _is_path(pretrained):
        missing, unexpected = clip.load_state_dict(load_state_dict(pretrained), strict=False)
        if missing:
            raise ValueError(f"checkpoint {pretrained} lacks {len(missing)} weights, e.g. {missing[0]}")
    model = SkyClip(clip, spec.mode, spec.head_hidden)
    if load_weights and spec.weights:
        model.load_state_dict(load_state_dict(spec.weights))
    pp = getattr(clip.visual, "preprocess_cfg", {}) or {}
    preprocess = {
        "image_size": _image_size(clip),
        "mean": tuple(pp.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        "std": tuple(pp.get("std", open_clip.OPENAI_DATASET_STD)),
    }
    tokenizer = open_clip.get_tokenizer(spec.arch)
    return model, preprocess, tokenizer


def _image_size(clip: nn.Module) -> int:
    size = getattr(clip.visual, "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def load_for_inference(model_json: str | os.PathLike, device: str | torch.device):
    """(model, tokenizer, preprocess) from a ``model.json``, in eval mode on ``device``."""
    spec = ModelSpec.from_json(model_json)
    model, preprocess, tokenizer = build_model(spec)
    return model.eval().to(device), tokenizer, preprocess


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> the first visible CUDA device if any, else CPU (see :mod:`skytext.core.gpus` for which GPUs
    a job sees)."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def autocast(device: torch.device, precision: str):
    """bf16 autocast on CUDA for ``auto``/``bf16``, bf16 on CPU only when asked; otherwise full precision."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
