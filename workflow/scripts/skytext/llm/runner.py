"""Asking the model for JSON answers of any kind: in real time (a pool of workers) or through the Batch API,
through the shared cache.

What is asked is an :class:`AnswerSpec`: ``parse`` turns an answer into a result or raises
:class:`~skytext.llm.schema.SchemaViolation`; ``reask`` is the instruction sent back after an unusable answer;
``what`` names a request in the logs; ``field`` is the result's name in a cache record. The proposal
summaries (:mod:`.summarise`) and the transients classifications and verdicts use the same flow.

Each request is a conversation (:class:`Ask`): its messages, its :class:`Outcome` so far and what is left of
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
from skytext.llm.cache import Cache
from skytext.llm.client import RETRYABLE_STATUS, ChatClient, ChatError, ChatResult, Message, Stats
from skytext.llm.client import assistant_message, make_client, result_from_completion, user_message
from skytext.llm.schema import SchemaViolation, parse_summary

log = logging.getLogger(__name__)

FATAL_STATUS = ("http_401", "http_403", "http_404")
RAW_MAX = 2000
# failures that may pass when asked again (after ``batch_`` is stripped; plus retryable HTTP statuses)
TRANSIENT = frozenset({"timeout", "connection_error", "missing", "failed", "expired", "cancelled",
                       "upload_truncated", "rate_limit_exceeded", "server_error"})
# error codes of Batch API lines that asking again cannot fix (the request itself is wrong); any other code a
# batch line carries -- one this code has never seen included, e.g. ``request_dropped`` -- is transient
BATCH_PERMANENT = frozenset({"invalid_request", "invalid_request_error", "invalid_value", "invalid_url",
                             "invalid_json_line", "missing_required_parameter", "duplicate_custom_id",
                             "context_length_exceeded", "content_filter", "content_policy_violation",
                             "model_not_found", "invalid_model", "invalid_api_key", "insufficient_quota"})


def is_transient(reason: str) -> bool:
    """Whether a reject ``reason`` is the server's passing trouble (asked again on a rerun, never cached).

    ``http_<code>``: the retryable statuses and 5xx; ``batch_<code>`` (a Batch API line or batch): every code
    but the known permanent ones (:data:`BATCH_PERMANENT`, 4xx statuses), so an unknown code is asked again;
    anything else (the model's unusable answers, bad input): only the known transient reasons.
    """
    r = reason.removeprefix("batch_")
    m = re.fullmatch(r"http_(\d{3})", r)
    if m is not None:
        return int(m.group(1)) in RETRYABLE_STATUS or int(m.group(1)) >= 500
    if reason.startswith("batch_"):
        return r not in BATCH_PERMANENT
    return r in TRANSIENT


@dataclass(frozen=True)
class AnswerSpec:
    """What a usable answer is, and how to ask again for one."""

    parse: Callable[[str | None], Any]  # the result, or SchemaViolation
    reask: str  # appended after "That answer was not usable (<reason>: <detail>)."
    what: str = "request"  # a request's name in the logs
    field: str = "result"  # the result's key in a cache record
    tag: str = "ask"  # batch files are tagged <tag>-r<round>


SUMMARY_SPEC = AnswerSpec(parse_summary, "Reply again with only a JSON object with the lists objects_and_phenomena "
                          "and science_use_cases (1 to 5 short strings each).", "proposal", "summary", "summary")


@dataclass
class Outcome:
    """The fate of one request: ``result`` (the parsed answer) or ``reason``/``detail`` with the ``raw`` answer."""

    rid: str
    result: Any = None
    reason: str = ""
    detail: str = ""
    raw: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cached: bool = False
    content_failure: bool = False  # the model answered, but unusably (cacheable)

    @property
    def ok(self) -> bool:
        """Whether a usable answer was given."""
        return self.result is not None

    def record(self, field_name: str = "result") -> dict[str, Any]:
        """What goes into the cache."""
        return {"status": "ok" if self.ok else "rejected", field_name: self.result, "reason": self.reason,
                "detail": self.detail, "raw": self.raw[:RAW_MAX], "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out}

    @classmethod
    def from_record(cls, rid: str, rec: dict[str, Any], field_name: str = "result") -> "Outcome":
        """The outcome a cache record holds."""
        return cls(rid, rec.get(field_name), rec.get("reason", ""), rec.get("detail", ""), rec.get("raw", ""),
                   int(rec.get("tokens_in", 0)), int(rec.get("tokens_out", 0)), cached=True,
                   content_failure=rec.get("status") != "ok")

    def cacheable(self, cache_rejects: bool) -> bool:
        """A result, or (with ``cache_rejects``) an answer that stayed unusable; never a transient failure."""
        return self.ok or (self.content_failure and cache_rejects and not is_transient(self.reason))


@dataclass
class Ask:
    """One request's conversation with the model and what is left of its budgets."""

    messages: list[Message]
    out: Outcome
    schema_left: int
    resubmits_left: int
    rid: str = field(init=False)

    def __post_init__(self) -> None:
        self.rid = self.out.rid

    def fail(self, reason: str, detail: str) -> None:
        """Settle as a failure of the server (not of the answer's content)."""
        self.out.reason, self.out.detail, self.out.content_failure = reason, detail, False


OnDone = Callable[[Outcome], None]


def correction(err: SchemaViolation, spec: AnswerSpec) -> Message:
    """The re-ask after an unusable answer."""
    return user_message(f"That answer was not usable ({err.reason}: {err.detail}). {spec.reask}")


def take_answer(ask: Ask, res: ChatResult, spec: AnswerSpec, stats: Stats) -> bool:
    """Fold one answer into ``ask``: ``True`` when settled (a result, or no re-ask left), else the re-ask is
    appended to its messages."""
    out = ask.out
    out.tokens_in += res.tokens_in
    out.tokens_out += res.tokens_out
    out.raw = res.content or ""
    try:
        out.result = spec.parse(res.content)
        out.reason, out.detail, out.content_failure = "", "", False
        return True
    except SchemaViolation as err:
        out.reason, out.detail, out.content_failure = err.reason, err.detail, True
        if ask.schema_left <= 0:
            return True
        ask.schema_left -= 1
        stats.add(schema_retries=1)
        log.info("%s %s: %s (%s); asking again", spec.what, ask.rid, err.reason, err.detail[:120])
        ask.messages = [*ask.messages, assistant_message(res.content or ""), correction(err, spec)]
        return False


def fatal_error(err: ChatError, cfg: dict[str, Any], backend: str) -> ChatError:
    """The one-line error that stops the shard (it names the setting to fix, never the key)."""
    where = f"the server at {cfg['base_url'] or 'api.openai.com'}"
    if err.reason in ("http_401", "http_403"):
        env = cfg["api_key_env"]
        key = f"the API key in environment variable {env} (llm.api_key_env)" if env else "requests without a key"
        msg = f"{where} refused {key} for model {cfg['model']!r}; set a valid key there"
    else:
        api = " and offers the Batch API" if backend == "openai-batch" else ""
        msg = f"{err.detail} ({where}, model {cfg['model']!r}: check that llm.model exists there{api})"
    return ChatError(err.reason, " ".join(msg.split())[:500], False)


@dataclass
class Session:
    """One shard's asking: the client, the ``llm`` section, the backend and the answer spec."""

    client: ChatClient
    cfg: dict[str, Any]
    backend: str
    spec: AnswerSpec
    params: dict[str, Any]
    stats: Stats


# ------------------------------------------------------------------------------------------ real time


def converse(s: Session, ask: Ask, stop: threading.Event) -> Outcome | None:
    """Ask until a usable answer, no re-ask left or a failure; ``None`` when stopped first. A fatal
    :class:`ChatError` is raised."""
    while not stop.is_set():
        try:
            res = s.client.chat(ask.messages, what=f"{s.spec.what} {ask.rid}", **s.params)
        except ChatError as err:
            if err.reason in FATAL_STATUS:
                raise
            ask.fail(err.reason, err.detail)
            return ask.out
        if take_answer(ask, res, s.spec, s.stats):
            return ask.out
    return None


def run_realtime(s: Session, asks: list[Ask], on_done: OnDone) -> list[Outcome]:
    """Every conversation through the chat endpoint, ``max_concurrency`` at a time after a first one alone."""
    stop, fatal = threading.Event(), []

    def work(ask: Ask) -> Outcome | None:
        """One conversation, unless stopped; a fatal error stops every worker."""
        if stop.is_set():
            return None
        try:
            out = converse(s, ask, stop)
        except ChatError as err:
            fatal.append(err)
            stop.set()
            return None
        if out is not None:
            on_done(out)
        return out

    results = [work(a) for a in asks[:1]]
    if len(asks) > 1 and not stop.is_set():
        workers = max(1, min(int(s.cfg["max_concurrency"]), len(asks) - 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            results += list(pool.map(work, asks[1:]))
    if fatal:
        raise fatal_error(fatal[0], s.cfg, s.backend) from None
    return [o for o in results if o is not None]


# ------------------------------------------------------------------------------------------ Batch API


def settle_round(s: Session, pending: list[Ask], answers: dict[str, BatchAnswer],
                 on_done: OnDone) -> tuple[list[Ask], list[Ask]]:
    """Fold one batch's answers in: (conversations to re-ask, requests to send again)."""
    again, resend = [], []
    for ask in pending:
        ans = answers[ask.rid]
        if ans.error:
            s.stats.add(error=ans.error)
            ask.fail(ans.error, ans.detail)
            if is_transient(ans.error) and ask.resubmits_left > 0:
                ask.resubmits_left -= 1
                resend.append(ask)
            else:
                on_done(ask.out)
            continue
        res = result_from_completion(ans.body or {}, s.client.model, s.stats)
        s.stats.add(batch_tokens_in=res.tokens_in, batch_tokens_out=res.tokens_out)
        if take_answer(ask, res, s.spec, s.stats):
            on_done(ask.out)
        else:
            again.append(ask)
    if resend:
        s.stats.add(retries=len(resend))
        log.info("%d requests failed in the batch (%s); sending them again", len(resend),
                 ", ".join(sorted({a.out.reason for a in resend})))
    return again, resend


def run_batch(s: Session, asks: list[Ask], state_dir: Path, batch_ids: list[str], on_done: OnDone) -> list[Outcome]:
    """Rounds of batches: the first with every request, then the re-asks and the requests sent again."""
    bcfg = s.cfg["batch"]
    runner = BatchRunner(s.client, state_dir, poll_interval_s=float(bcfg["poll_interval_s"]),
                         completion_window=str(bcfg["completion_window"]))
    body_params = {k: v for k, v in s.params.items() if v is not None}
    pending, rnd = list(asks), 0
    while pending:
        requests = [(a.rid, {"model": s.client.model, "messages": a.messages, **body_params}) for a in pending]
        try:
            answers, info = runner.run(requests, tag=f"{s.spec.tag}-r{rnd}")
        except ChatError as err:
            if err.reason in FATAL_STATUS:
                raise fatal_error(err, s.cfg, s.backend) from None
            log.warning("batch round %d failed (%s); %d requests rejected", rnd, err, len(pending))
            for a in pending:
                a.fail(err.reason, err.detail)
                on_done(a.out)
            break
        batch_ids.append(info.batch_id)
        again, resend = settle_round(s, pending, answers, on_done)
        if resend and bcfg["resubmit_via"] == "chat":
            run_realtime(s, resend, on_done)
            resend = []
        pending, rnd = again + resend, rnd + 1
    return [a.out for a in asks]


# ------------------------------------------------------------------------------------------ entry


def ask_model(conversations: dict[str, list[Message]], params: dict[str, Any], cfg: dict[str, Any],
              client: ChatClient | None, stats: Stats, state_dir: Path, batch_ids: list[str], on_done: OnDone,
              spec: AnswerSpec, backend: str) -> list[Outcome]:
    """An :class:`Outcome` per request id of ``conversations`` from ``backend`` (``openai`` or
    ``openai-batch``); ``on_done`` sees each one as soon as it is settled (to cache it). Without ``client`` one
    is made from ``cfg`` (the ``llm`` section) and closed at the end."""
    asks = [Ask(msgs, Outcome(rid), int(cfg["max_schema_retries"]), int(cfg["batch"]["max_resubmits"]))
            for rid, msgs in conversations.items()]
    own_client = client is None
    client = client or make_client(cfg, cfg["model"], cfg, stats)
    s = Session(client, cfg, backend, spec, params, stats)
    try:
        if backend == "openai":
            run_realtime(s, asks, on_done)
            return [a.out for a in asks]
        return run_batch(s, asks, state_dir, batch_ids, on_done)
    finally:
        if own_client:
            client.close()


def cached_outcomes(cache: Cache, keys: dict[str, str], spec: AnswerSpec) -> dict[str, Outcome]:
    """The cache's answers for ``keys`` (request id -> key); a transient reject found there is a miss."""
    known = {}
    for rid, key in keys.items():
        rec = cache.get(key)
        if rec is not None and (rec.get("status") == "ok" or not is_transient(str(rec.get("reason", "")))):
            known[rid] = Outcome.from_record(rid, rec, spec.field)
    return known


def ask_cached(requests: dict[str, tuple[str, list[Message]]], params: dict[str, Any], cfg: dict[str, Any],
               spec: AnswerSpec, cache: Cache, stats: Stats, client: ChatClient | None,
               backend: str) -> tuple[dict[str, Outcome], list[str]]:
    """``requests`` = ``{id: (cache key, messages)}`` -> (``{id: Outcome}`` in the order of ``requests``, the
    batch ids used): cached answers first, the rest from ``backend`` (``openai``, ``openai-batch``) through
    ``client`` (``None``: one made from ``cfg``), each cached as soon as it is settled."""
    keys = {rid: key for rid, (key, _) in requests.items()}
    known = cached_outcomes(cache, keys, spec)
    stats.add(cache_hits=len(known))
    todo = {rid: msgs for rid, (_, msgs) in requests.items() if rid not in known}
    log.info("%s: %d requests, %d from the cache, %d to ask %s", spec.tag, len(requests), len(known), len(todo),
             cfg["model"])
    lock, batch_ids = threading.Lock(), []

    def keep(o: Outcome) -> None:
        """Cache a settled outcome that may be cached."""
        if o.cacheable(bool(cfg["cache_rejects"])):
            with lock:
                cache.put(keys[o.rid], o.record(spec.field))

    if todo:
        fresh = ask_model(todo, params, cfg, client, stats, Path(cache.root.parent) / "batches", batch_ids, keep,
                          spec, backend)
        known.update((o.rid, o) for o in fresh)
    for rid in todo:  # anything a stop left unsettled
        if rid not in known or not (known[rid].ok or known[rid].reason):
            known[rid] = Outcome(rid, reason="not_asked", detail="stopped before it was asked")
    return {rid: known[rid] for rid in requests}, batch_ids


def transient_reject_ids(rejects_path: str) -> list[str]:
    """The ids rejected for a transient reason in a shard's existing rejects file (``[]`` when there is none).

    The ``summarise`` rule passes this as a parameter: Snakemake reruns a job whose parameters changed, so a
    plain rerun of the workflow asks again for exactly these (answers already given come from the cache). Once
    they are answered the list is empty again, which Snakemake sees as one more change: that extra run makes
    no calls.
    """
    import os

    import pandas as pd

    if not os.path.exists(rejects_path):
        return []
    rej = pd.read_parquet(rejects_path, columns=["record_id", "reason"])
    return sorted(str(r) for r, why in zip(rej["record_id"], rej["reason"]) if is_transient(str(why)))
