"""Bounded retries with exponential backoff and full jitter, honouring a server's ``Retry-After``.

One job: call a function until it succeeds, a failure is not worth another try, or the retries run out.
What counts as retryable is decided by the caller's ``classify`` (an exception -> :class:`Failure`), so the
same loop serves archive downloads (:mod:`skytext.sources.download`) and chat requests (:mod:`skytext.llm.client`).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, Mapping, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# HTTP answers that may succeed when asked again: timeouts, rate limits, overloaded or restarting servers
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class Failure(Exception):
    """A failed call: ``reason`` is short and machine-friendly (``http_503``, ``timeout``, ...), ``detail`` one
    human-readable line, ``retryable`` whether trying again may help, ``retry_after`` the wait in seconds
    the server asked for (``None`` when it did not)."""

    def __init__(self, reason: str, detail: str, retryable: bool, retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retryable, self.retry_after = reason, detail, retryable, retry_after


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Extra attempts after a retryable failure; backoff base and cap; longest ``Retry-After`` honoured.

    The values come from the config section of whoever retries (``llm``, ``images.hst.download``, ...): no
    defaults here except the ``Retry-After`` cap, which no config sets.
    """

    retries: int
    backoff_s: float
    backoff_max_s: float
    retry_after_max_s: float = 600.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (0-based): the server's ``Retry-After`` when it sent one
        (capped at ``retry_after_max_s``), else uniform in ``[0, min(backoff_max_s, backoff_s * 2**attempt)]``."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.retry_after_max_s)
        return random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2**attempt))


def retry_after_s(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The wait a server asks for: ``retry-after-ms``, else ``Retry-After`` as seconds or an HTTP date."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def call_with_retries(
    fn: Callable[[], T],
    classify: Callable[[BaseException], Failure],
    policy: RetryPolicy,
    what: str = "request",
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_failure: Callable[[Failure], None] | None = None,
    on_retry: Callable[[Failure, float], None] | None = None,
) -> T:
    """``fn()``, retried up to ``policy.retries`` times while ``classify(exc).retryable``.

    The last failure (or the first one that is not retryable) is raised as the :class:`Failure` that
    ``classify`` made of it. ``on_failure`` sees every failure, ``on_retry`` every retry with its wait
    (counters hook in there).
    """
    for attempt in range(policy.retries + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            err = classify(exc)
            if on_failure is not None:
                on_failure(err)
            if not err.retryable or attempt == policy.retries:
                if err is exc:
                    raise
                raise err from exc
            wait = policy.delay(attempt, err.retry_after)
            log.info("%s failed (%s); retry %d/%d in %.2fs", what, err, attempt + 1, policy.retries, wait)
            if on_retry is not None:
                on_retry(err, wait)
            sleep(wait)
    raise AssertionError("unreachable")
