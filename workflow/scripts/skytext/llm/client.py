"""Chat completions against any OpenAI-compatible server, with our own retries and counters.

* Messages may carry images: :func:`user_message` takes text and :func:`image_part` parts (base64
  ``data:`` URLs), so a vision model gets ``[{"type": "text", ...}, {"type": "image_url", ...}]``.
* The ``openai`` client's own retries are switched off (``max_retries=0``) so every HTTP request is
  counted once in :class:`Stats` and retried here: 429, 408/409 and 5xx answers, timeouts and dropped
  connections are retried up to ``llm.max_retries`` times by :mod:`skytext.core.retry`, waiting what the
  server's ``Retry-After`` / ``retry-after-ms`` header asks for, else exponential backoff with full jitter.
* The API key comes from an environment variable *named* in config (:func:`resolve_api_key`) and is
  never logged or written anywhere.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import openai

from skytext.core import retry
from skytext.core.retry import Failure, RetryPolicy, retry_after_s

log = logging.getLogger(__name__)

Message = dict[str, Any]
RETRYABLE_STATUS = retry.RETRYABLE_STATUS | {409}  # OpenAI-compatible servers answer 409 to a lock timeout


# ------------------------------------------------------------------------------------------ messages


def text_part(text: str) -> dict[str, Any]:
    """A text content part."""
    return {"type": "text", "text": text}


def data_url(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,<...>`` for ``data``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_part(image: bytes | str | Path, mime: str | None = None, *, detail: str) -> dict[str, Any]:
    """An image content part from raw bytes or a file (sent inline as a base64 data URL).

    ``mime`` defaults to the file's type by extension, or ``image/png`` for bytes; ``detail`` is OpenAI's image
    detail (``low``, ``high``, ``auto``), a setting the caller passes.
    """
    if isinstance(image, (str, Path)):
        mime = mime or mimetypes.guess_type(str(image))[0] or "image/png"
        image = Path(image).read_bytes()
    return {"type": "image_url", "image_url": {"url": data_url(image, mime or "image/png"), "detail": detail}}


def system_message(text: str) -> Message:
    """A system message."""
    return {"role": "system", "content": text}


def user_message(*parts: str | dict[str, Any]) -> Message:
    """A user message; a single text stays a plain string, anything with images becomes a part list."""
    if len(parts) == 1 and isinstance(parts[0], str):
        return {"role": "user", "content": parts[0]}
    return {"role": "user", "content": [text_part(p) if isinstance(p, str) else p for p in parts]}


def assistant_message(text: str) -> Message:
    """An assistant message (an earlier answer, shown back to the model)."""
    return {"role": "assistant", "content": text}


# ------------------------------------------------------------------------------------------ retries


class ChatError(Failure):
    """A request that failed (:class:`skytext.core.retry.Failure`): ``reason`` is ``http_429``, ``timeout``,
    ``connection_error``, ...; ``retry_after`` is the wait the server asked for."""


def classify(exc: BaseException) -> ChatError:
    """Turn an ``openai`` exception into a :class:`ChatError`."""
    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        headers = exc.response.headers if exc.response is not None else None
        detail = str(getattr(exc, "message", "") or exc).splitlines()[0][:200]
        return ChatError(f"http_{code}", detail, code in RETRYABLE_STATUS or code >= 500, retry_after_s(headers))
    if isinstance(exc, openai.APITimeoutError):
        return ChatError("timeout", "request timed out", True)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ChatError("connection_error", f"{type(cause).__name__}: {cause}".splitlines()[0][:200], True)
    return ChatError("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:200], False)


# ------------------------------------------------------------------------------------------ counters


@dataclass
class Stats:
    """Counters shared by the threads of one shard job (thread-safe through :meth:`add`)."""

    requests: int = 0  # HTTP requests sent (every attempt, retries included)
    retries: int = 0  # transport retries (429/5xx/timeouts/dropped connections)
    schema_retries: int = 0  # re-asks after invalid JSON / schema violations
    cache_hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    batch_tokens_in: int = 0  # the part of tokens_in/out answered through the Batch API (its own price)
    batch_tokens_out: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, error: str | None = None, **counts: int) -> None:
        """Add ``counts`` to the counters and count one ``error`` by its reason."""
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """A copy of the counters."""
        with self._lock:
            return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items() if not k.startswith("_")}


# ------------------------------------------------------------------------------------------ the client


@dataclass(frozen=True)
class ChatResult:
    """One answer: its text, why it ended, its token counts and the model that gave it."""

    content: str | None
    finish_reason: str | None
    tokens_in: int
    tokens_out: int
    model: str


def resolve_api_key(api_key_env: str | None, base_url: str | None) -> str:
    """The API key from the environment variable named ``api_key_env``.

    ``api_key_env: null`` means the server needs none (a local vLLM/Ollama server); then a placeholder is
    sent. Raises ``ValueError`` naming the variable (never its value) when it is unset.
    """
    if not api_key_env:
        if not base_url:
            raise ValueError("llm.api_key_env is null but llm.base_url is not set: the OpenAI API needs a key")
        return "no-key"
    key = os.environ.get(api_key_env, "")
    if not key:
        raise ValueError(f"environment variable {api_key_env} (llm.api_key_env) is not set; export the API key there")
    return key


class ChatClient:
    """``chat(messages, **params)`` with bounded retries; counts every request and token in ``stats``."""

    def __init__(self, *, model: str, api_key: str, base_url: str | None, timeout_s: float, policy: RetryPolicy,
                 stats: Stats | None = None, sleep: Callable[[float], None] = time.sleep):
        self.model, self.policy, self.stats, self._sleep = model, policy, stats or Stats(), sleep
        self.openai = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout_s, max_retries=0)

    def with_retries(self, fn: Callable[[], Any], what: str) -> Any:
        """Call ``fn`` (one HTTP request) until it succeeds or a non-retryable/last failure, which is
        raised as a :class:`ChatError`; every attempt, failure and retry is counted in ``stats``."""

        def counted() -> Any:
            """``fn`` counted as one request."""
            self.stats.add(requests=1)
            return fn()

        return retry.call_with_retries(counted, classify, self.policy, what, sleep=self._sleep,
                                       on_failure=lambda err: self.stats.add(error=err.reason),
                                       on_retry=lambda err, wait: self.stats.add(retries=1))

    def chat(self, messages: list[Message], what: str = "chat", **params: Any) -> ChatResult:
        """One chat completion (``params``: temperature, response_format, max_tokens, seed, ...)."""
        params = {k: v for k, v in params.items() if v is not None}
        resp = self.with_retries(
            lambda: self.openai.chat.completions.create(model=self.model, messages=messages, **params), what)
        return result_from_completion(resp, self.model, self.stats)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.openai.close()


def make_client(endpoint: dict[str, Any], model: str, retry: dict[str, Any], stats: Stats | None = None) -> ChatClient:
    """A :class:`ChatClient` for ``model`` at ``endpoint``'s server (its ``base_url``; the key from the variable
    its ``api_key_env`` names) with ``retry``'s ``max_retries``, ``backoff_s``, ``backoff_max_s`` and
    ``timeout_s``. For chat, both are the ``llm`` section: ``make_client(llm, llm["model"], llm, stats)``."""
    policy = RetryPolicy(retries=int(retry["max_retries"]), backoff_s=float(retry["backoff_s"]),
                         backoff_max_s=float(retry["backoff_max_s"]))
    return ChatClient(model=model, api_key=resolve_api_key(endpoint["api_key_env"], endpoint["base_url"]),
                      base_url=endpoint["base_url"], timeout_s=float(retry["timeout_s"]), policy=policy,
                      stats=stats or Stats())


def result_from_completion(resp: Any, model: str, stats: Stats | None = None) -> ChatResult:
    """A :class:`ChatResult` from a ``ChatCompletion`` object or its JSON dict (Batch API output)."""
    if isinstance(resp, dict):
        choices, usage = resp.get("choices") or [], resp.get("usage") or {}
        choice = choices[0] if choices else {}
        content = (choice.get("message") or {}).get("content")
        finish, t_in, t_out = choice.get("finish_reason"), usage.get("prompt_tokens"), usage.get("completion_tokens")
        model = resp.get("model") or model
    else:
        choice = resp.choices[0] if resp.choices else None
        content = choice.message.content if choice else None
        finish = choice.finish_reason if choice else None
        t_in = resp.usage.prompt_tokens if resp.usage else 0
        t_out = resp.usage.completion_tokens if resp.usage else 0
        model = resp.model or model
    res = ChatResult(content, finish, int(t_in or 0), int(t_out or 0), model)
    if stats is not None:
        stats.add(tokens_in=res.tokens_in, tokens_out=res.tokens_out)
    return res
