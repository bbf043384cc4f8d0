"""Asking the model for the summaries of one shard: in real time (a pool of workers) or through the Batch API.

Each proposal is a conversation (:class:`Ask`): its messages, its :class:`Outcome` so far and what is left of
its budgets -- ``max_schema_retries`` re-asks after an unusable answer, ``batch.max_resubmits`` resends after
a transient batch failure (a 429 or 5xx line, a line missing from the output, a failed or expired batch),
either in a new, smaller batch or through the chat endpoint (``batch.resubmit_via``).

Errors that would hit every request alike (401/403: a wrong key; 404: an unknown model or endpoint) stop the
shard with one line naming the setting to fix. In real time the first request goes alone, so a wrong key
costs one request; a fatal answer later stops every worker before its next request.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from skytext.llm.batch import BatchAnswer, BatchRunner
from skytext.llm.client import RETRYABLE_STATUS, ChatClient, ChatError, ChatResult, Message, RetryPolicy, Stats
from skytext.llm.client import assistant_message, resolve_api_key, result_from_completion, user_message
from skytext.llm.schema import SchemaViolation, parse_summary

log = logging.getLogger(__name__)

FATAL_STATUS = ("http_401", "http_403", "http_404")
RAW_MAX = 2000
# failures that may pass when asked again (after ``batch_`` is stripped; plus retryable HTTP statuses)
TRANSIENT = frozenset({"timeout", "connection_error", "missing", "failed", "expired", "cancelled",
                       "upload_truncated", "rate_limit_exceeded", "server_error"})


def is_transient(reason: str) -> bool:
    """Whether a reject ``reason`` is the server's passing trouble (asked again on a rerun, never cached)."""
    r = reason.removeprefix("batch_")
    m = re.fullmatch(r"http_(\d{3})", r)
    return r in TRANSIENT or (m is not None and (int(m.group(1)) in RETRYABLE_STATUS or int(m.group(1)) >= 500))


@dataclass
class Outcome:
    """The fate of one proposal."""

    proposal_id: str
    summary: dict[str, list[str]] | None = None
    reason: str = ""
    detail: str = ""
    raw: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cached: bool = False
    content_failure: bool = False  # the model answered, but unusably (cacheable)

    def record(self) -> dict[str, Any]:
        """What goes into the cache."""
        return {"status": "ok" if self.summary else "rejected", "summary": self.summary, "reason": self.reason,
                "detail": self.detail, "raw": self.raw[:RAW_MAX], "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out}

    @classmethod
    def from_record(cls, pid: str, rec: dict[str, Any]) -> "Outcome":
        return cls(pid, rec.get("summary"), rec.get("reason", ""), rec.get("detail", ""), rec.get("raw", ""),
                   int(rec.get("tokens_in", 0)), int(rec.get("tokens_out", 0)), cached=True,
                   content_failure=rec.get("status") != "ok")

    def cacheable(self, cache_rejects: bool) -> bool:
        """A summary, or (with ``cache_rejects``) an answer that stayed unusable; never a transient failure."""
        return bool(self.summary) or (self.content_failure and cache_rejects and not is_transient(self.reason))


@dataclass
class Ask:
    """One proposal's conversation with the model and what is left of its budgets."""

    messages: list[Message]
    out: Outcome
    schema_left: int
    resubmits_left: int
    pid: str = field(init=False)

    def __post_init__(self) -> None:
        self.pid = self.out.proposal_id

    def fail(self, reason: str, detail: str) -> None:
        self.out.reason, self.out.detail, self.out.content_failure = reason, detail, False


OnDone = Callable[[Outcome], None]


def correction(err: SchemaViolation) -> Message:
    """The re-ask after an unusable answer."""
    return user_message(f"That answer was not usable ({err.reason}: {err.detail}). Reply again with only a JSON "
                        "object with the lists objects_and_phenomena and science_use_cases (1 to 5 short strings "
                        "each).")


def take_answer(ask: Ask, res: ChatResult, stats: Stats) -> bool:
    """Fold one answer into ``ask``: ``True`` when settled (a summary, or no re-ask left), else the re-ask is
    appended to its messages."""
    out = ask.out
    out.tokens_in += res.tokens_in
    out.tokens_out += res.tokens_out
    out.raw = res.content or ""
    try:
        out.summary = parse_summary(res.content)
        out.reason, out.detail, out.content_failure = "", "", False
        return True
    except SchemaViolation as err:
        out.reason, out.detail, out.content_failure = err.reason, err.detail, True
        if ask.schema_left <= 0:
            return True
        ask.schema_left -= 1
        stats.add(schema_retries=1)
        log.info("proposal %s: %s (%s); asking again", ask.pid, err.reason, err.detail[:120])
        ask.messages = [*ask.messages, assistant_message(res.content or ""), correction(err)]
        return False


def fatal_error(err: ChatError, cfg: dict[str, Any]) -> ChatError:
    """The one-line error that stops the shard (it names the setting to fix, never the key)."""
    where = f"the server at {cfg['base_url'] or 'api.openai.com'}"
    if err.reason in ("http_401", "http_403"):
        env = cfg["api_key_env"]
        key = f"the API key in environment variable {env} (llm.api_key_env)" if env else "requests without a key"
        msg = f"{where} refused {key} for model {cfg['model']!r}; set a valid key there"
    else:
        api = " and offers the Batch API" if cfg["backend"] == "openai-batch" else ""
        msg = f"{err.detail} ({where}, model {cfg['model']!r}: check that llm.model exists there{api})"
    return ChatError(err.reason, " ".join(msg.split())[:500], False)


# ------------------------------------------------------------------------------------------ real time


def converse(client: ChatClient, ask: Ask, params: dict[str, Any], stats: Stats,
             stop: threading.Event) -> Outcome | None:
    """Ask until a usable answer, no re-ask left or a failure; ``None`` when stopped first. A fatal
    :class:`ChatError` is raised."""
    while not stop.is_set():
        try:
            res = client.chat(ask.messages, what=f"proposal {ask.pid}", **params)
        except ChatError as err:
            if err.reason in FATAL_STATUS:
                raise
            ask.fail(err.reason, err.detail)
            return ask.out
        if take_answer(ask, res, stats):
            return ask.out
    return None


def run_realtime(client: ChatClient, asks: list[Ask], params: dict[str, Any], cfg: dict[str, Any],
                 stats: Stats, on_done: OnDone) -> list[Outcome]:
    """Every conversation through the chat endpoint, ``max_concurrency`` at a time after a first one alone."""
    stop, fatal = threading.Event(), []

    def work(ask: Ask) -> Outcome | None:
        if stop.is_set():
            return None
        try:
            out = converse(client, ask, params, stats, stop)
        except ChatError as err:
            fatal.append(err)
            stop.set()
            return None
        if out is not None:
            on_done(out)
        return out

    results = [work(a) for a in asks[:1]]
    if len(asks) > 1 and not stop.is_set():
        workers = max(1, min(int(cfg["max_concurrency"]), len(asks) - 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            results += list(pool.map(work, asks[1:]))
    if fatal:
        raise fatal_error(fatal[0], cfg) from None
    return [o for o in results if o is not None]


# ------------------------------------------------------------------------------------------ Batch API


def settle_round(pending: list[Ask], answers: dict[str, BatchAnswer], model: str, stats: Stats,
                 on_done: OnDone) -> tuple[list[Ask], list[Ask]]:
    """Fold one batch's answers in: (conversations to re-ask, requests to send again)."""
    again, resend = [], []
    for ask in pending:
        ans = answers[ask.pid]
        if ans.error:
            stats.add(error=ans.error)
            ask.fail(ans.error, ans.detail)
            if is_transient(ans.error) and ask.resubmits_left > 0:
                ask.resubmits_left -= 1
                resend.append(ask)
            else:
                on_done(ask.out)
            continue
        res = result_from_completion(ans.body or {}, model, stats)
        stats.add(batch_tokens_in=res.tokens_in, batch_tokens_out=res.tokens_out)
        if take_answer(ask, res, stats):
            on_done(ask.out)
        else:
            again.append(ask)
    if resend:
        stats.add(retries=len(resend))
        log.info("%d requests failed in the batch (%s); sending them again", len(resend),
                 ", ".join(sorted({a.out.reason for a in resend})))
    return again, resend


def run_batch(client: ChatClient, asks: list[Ask], params: dict[str, Any], cfg: dict[str, Any], state_dir: Path,
              stats: Stats, batch_ids: list[str], on_done: OnDone) -> list[Outcome]:
    """Rounds of batches: the first with every request, then the re-asks and the requests sent again."""
    bcfg = cfg["batch"]
    runner = BatchRunner(client, state_dir, poll_interval_s=float(bcfg["poll_interval_s"]),
                         completion_window=str(bcfg["completion_window"]))
    body_params = {k: v for k, v in params.items() if v is not None}
    pending, rnd = list(asks), 0
    while pending:
        requests = [(a.pid, {"model": client.model, "messages": a.messages, **body_params}) for a in pending]
        try:
            answers, info = runner.run(requests, tag=f"summary-r{rnd}")
        except ChatError as err:
            if err.reason in FATAL_STATUS:
                raise fatal_error(err, cfg) from None
            log.warning("batch round %d failed (%s); %d requests rejected", rnd, err, len(pending))
            for a in pending:
                a.fail(err.reason, err.detail)
                on_done(a.out)
            break
        batch_ids.append(info.batch_id)
        again, resend = settle_round(pending, answers, client.model, stats, on_done)
        if resend and bcfg["resubmit_via"] == "chat":
            run_realtime(client, resend, params, cfg, stats, on_done)
            resend = []
        pending, rnd = again + resend, rnd + 1
    return [a.out for a in asks]


# ------------------------------------------------------------------------------------------ entry


def make_client(cfg: dict[str, Any], stats: Stats) -> ChatClient:
    """A :class:`ChatClient` from the ``llm`` config section (key from the environment)."""
    policy = RetryPolicy(retries=int(cfg["max_retries"]), backoff_s=float(cfg["backoff_s"]),
                         backoff_max_s=float(cfg["backoff_max_s"]))
    return ChatClient(model=cfg["model"], api_key=resolve_api_key(cfg["api_key_env"], cfg["base_url"]),
                      base_url=cfg["base_url"], timeout_s=float(cfg["timeout_s"]), policy=policy, stats=stats)


def ask_model(conversations: dict[str, list[Message]], params: dict[str, Any], cfg: dict[str, Any],
              client: ChatClient | None, stats: Stats, state_dir: Path, batch_ids: list[str],
              on_done: OnDone) -> list[Outcome]:
    """An :class:`Outcome` per proposal id of ``conversations`` from the ``openai`` or ``openai-batch``
    backend; ``on_done`` sees each one as soon as it is settled (to cache it)."""
    asks = [Ask(msgs, Outcome(pid), int(cfg["max_schema_retries"]), int(cfg["batch"]["max_resubmits"]))
            for pid, msgs in conversations.items()]
    own_client = client is None
    client = client or make_client(cfg, stats)
    try:
        if cfg["backend"] == "openai":
            run_realtime(client, asks, params, cfg, stats, on_done)
            return [a.out for a in asks]
        return run_batch(client, asks, params, cfg, state_dir, stats, batch_ids, on_done)
    finally:
        if own_client:
            client.close()
