"""A reusable LLM layer: chat with retries and image-capable messages (:mod:`.client`), a content-addressed
cache (:mod:`.cache`), the Batch API (:mod:`.batch`), cost estimates (:mod:`.cost`) and, built on them, the
proposal summaries of the ``summarise`` rule (:mod:`.summarise`, :mod:`.runner`, :mod:`.schema`,
:mod:`.keywords`). Config sections arrive complete: the JSON schema is the only home of their defaults."""

from __future__ import annotations

from typing import Any

BACKENDS = ("none", "openai", "openai-batch", "keywords")


def check_config(llm_cfg: dict[str, Any], captions: list[str]) -> None:
    """Raise ``ValueError`` with a one-line message when the ``llm`` section cannot serve ``captions``.

    Called at parse time from ``common.smk`` after schema validation, so ``llm_cfg`` is complete (the schema
    filled in its defaults); it needs no API key: a missing key is reported by the job that needs it.
    """
    backend = llm_cfg["backend"]
    if backend not in BACKENDS:
        raise ValueError(f"llm.backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if "summary" in captions and backend == "none":
        raise ValueError("captions include 'summary' but llm.backend is 'none': "
                         "set llm.backend to openai, openai-batch or keywords")
    if backend in ("openai", "openai-batch") and not str(llm_cfg["model"] or "").strip():
        raise ValueError(f"llm.backend is {backend!r} but llm.model is empty")
    if int(llm_cfg["shards"]) < 1:
        raise ValueError("llm.shards must be at least 1")
