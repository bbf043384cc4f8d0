"""Text embeddings through the OpenAI embeddings endpoint (text-embedding-3-small, ada-002, or any
OpenAI-compatible server): batched, retried by the shared client (429/5xx/timeouts, Retry-After), cached by
content (model + text), and a failed batch becomes per-text rejects with the reason, never a crash."""

from __future__ import annotations

import numpy as np

from skytext.llm.cache import Cache, sha256_json
from skytext.llm.client import ChatClient, ChatError, make_client

__all__ = ["embed_openai", "make_client"]  # make_client: skytext.llm.client's, re-exported


def embed_openai(texts: list[str], model: str, client: ChatClient, cache_dir: str, batch_size: int
                 ) -> tuple[dict[int, np.ndarray], dict[int, tuple[str, str]]]:
    """(index -> L2-normalised vector, index -> (reason, detail)) for ``texts``."""
    cache = Cache(cache_dir, kind="embeddings")
    keys = [sha256_json({"model": model, "text": t}) for t in texts]
    vecs: dict[int, np.ndarray] = {}
    rejects: dict[int, tuple[str, str]] = {}
    todo = []
    for i, k in enumerate(keys):
        hit = cache.get(k)
        if hit is not None:
            vecs[i] = np.asarray(hit["embedding"], np.float32)
            client.stats.add(cache_hits=1)
        else:
            todo.append(i)
    for s in range(0, len(todo), batch_size):
        idx = todo[s: s + batch_size]
        try:
            resp = client.with_retries(lambda: client.openai.embeddings.create(model=model, input=[texts[i] for i in idx]),
                                       f"embeddings[{s}]")
            data = sorted(resp.data, key=lambda d: d.index)
            if len(data) != len(idx):
                raise ChatError("bad_response", f"{len(data)} embeddings for {len(idx)} texts", False)
        except ChatError as err:
            for i in idx:
                rejects[i] = (err.reason, err.detail.splitlines()[0][:300] if err.detail else "")
            continue
        for i, d in zip(idx, data):
            v = np.asarray(d.embedding, np.float32)
            v /= max(float(np.linalg.norm(v)), 1e-12)
            vecs[i] = v
            cache.put(keys[i], {"embedding": v.tolist(), "model": model})
    return vecs, rejects
