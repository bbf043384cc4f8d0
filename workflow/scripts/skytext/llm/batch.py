"""The OpenAI Batch API path: write the requests as JSONL, upload, submit, poll, download.

Resumable: the batch is identified by a hash of its requests, and its state (input file id, then batch id)
is written to ``<state_dir>/<key>.json`` as soon as the server has handed out each id. A run that is killed
while polling finds the state on rerun and goes back to polling the same batch instead of paying for a
second one. The state is removed once a finished batch's results have been handed back (the caller caches
them), so a later run with requests still unanswered submits a fresh batch for those only.

Only the calls every OpenAI-compatible Batch server offers are needed: upload, create, retrieve, download.
Listing batches is optional there (``GET /v1/batches`` may answer 404), so it is asked only to find a batch
whose create answer was lost (a create was sent but no batch id saved), and any failure of it just means a
new batch is made.

Every transfer is checked: an upload whose stored size differs from what was sent is sent again, and a
download whose lines are not all result records, or fewer than the batch's ``request_counts`` say, is
fetched again (up to the client's retries) before any request is called missing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from skytext.llm.cache import atomic_write_text, sha256_json
from skytext.llm.client import ChatClient, ChatError, classify

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class BatchAnswer:
    """One request's outcome: ``body`` (a chat completion as JSON) or ``error`` + ``detail``."""

    custom_id: str
    body: dict[str, Any] | None = None
    error: str | None = None
    detail: str = ""


@dataclass
class BatchRun:
    """What :meth:`BatchRunner.run` did: ids, whether it created the batch or resumed one, final status."""

    batch_id: str = ""
    created: bool = False
    resumed: bool = False
    status: str = ""


def request_lines(requests: list[tuple[str, dict[str, Any]]]) -> str:
    """The Batch API input file: one ``{"custom_id", "method", "url", "body"}`` JSON object per line."""
    return "".join(json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT, "body": body},
                              sort_keys=True, ensure_ascii=False) + "\n" for cid, body in requests)


def _line_answer(cid: str, rec: dict[str, Any]) -> BatchAnswer:
    resp, err = rec.get("response") or {}, rec.get("error")
    status = resp.get("status_code")
    if not err and status == 200:
        return BatchAnswer(cid, body=resp.get("body"))
    code = err.get("code") if isinstance(err, dict) else None
    msg = err.get("message", "") if isinstance(err, dict) else str(err or "")
    body_err = (resp.get("body") or {}).get("error") if isinstance(resp.get("body"), dict) else None
    if body_err and not msg:
        msg = str(body_err.get("message", body_err) if isinstance(body_err, dict) else body_err)
    reason = str(code) if code else (f"http_{status}" if status else "error")
    return BatchAnswer(cid, error=reason if reason.startswith("batch_") else f"batch_{reason}",
                       detail=str(msg).splitlines()[0][:300] if msg else f"batch line status {status}")


def parse_lines(text: str) -> tuple[dict[str, BatchAnswer], int]:
    """Answers from a Batch output or error file (JSONL), and the number of lines that are not result records
    (a cut download ends in one)."""
    out: dict[str, BatchAnswer] = {}
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out[str(rec["custom_id"])] = _line_answer(str(rec["custom_id"]), rec)
        except (ValueError, KeyError, TypeError, AttributeError):
            bad += 1
    return out, bad


def parse_output(text: str) -> dict[str, BatchAnswer]:
    """Answers from a Batch output or error file (JSONL); lines that are not result records are skipped."""
    return parse_lines(text)[0]


def missing_answer(cid: str, batch: Any) -> BatchAnswer:
    """The answer of a request without a result line: ``batch_missing`` from a completed batch, else
    ``batch_<status>`` (``failed``, ``expired``, ``cancelled``) with the batch's first error."""
    if batch.status == "completed":
        return BatchAnswer(cid, error="batch_missing", detail=f"no result line in batch {batch.id}")
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    why = f": {errors[0].message}" if errors and getattr(errors[0], "message", None) else ""
    return BatchAnswer(cid, error=f"batch_{batch.status}", detail=f"batch {batch.id} {batch.status}{why}"[:300])


def expected_results(batch: Any, n_requests: int) -> int:
    """How many result lines the batch's files should hold together (its ``request_counts``, else one per
    request)."""
    counts = getattr(batch, "request_counts", None)
    if counts is not None and counts.total:
        return min(n_requests, int(counts.completed or 0) + int(counts.failed or 0))
    return n_requests


class BatchRunner:
    """Runs one batch of chat requests to completion, resuming a batch a killed run left behind."""

    def __init__(self, client: ChatClient, state_dir: str | Path, *, poll_interval_s: float,
                 completion_window: str, sleep: Callable[[float], None] = time.sleep):
        self.client, self.state_dir = client, Path(state_dir)
        self.poll_interval_s, self.completion_window, self._sleep = poll_interval_s, completion_window, sleep
        self._list_ok = True

    # -- state -------------------------------------------------------------------------------------------
    def _state_path(self, key: str) -> Path:
        return self.state_dir / f"{key}.json"

    def _load(self, key: str) -> dict[str, Any]:
        try:
            return json.loads(self._state_path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}

    def _save(self, key: str, state: dict[str, Any]) -> None:
        atomic_write_text(self._state_path(key), json.dumps(state, sort_keys=True))

    # -- server calls (each one HTTP request, retried by the client) ---------------------------------------
    def _upload(self, key: str, lines: str, tag: str) -> dict[str, Any]:
        data, name = lines.encode("utf-8"), f"skytext-{tag}-{key[:12]}.jsonl"

        def send() -> Any:
            """One upload, checked for the size the server stored."""
            f = self.client.openai.files.create(file=(name, data, "application/jsonl"), purpose="batch")
            if f.bytes and int(f.bytes) != len(data):
                raise ChatError("upload_truncated", f"the server stored {f.bytes} of {len(data)} bytes", True)
            return f

        f = self.client.with_retries(send, "files.create")
        state = {"key": key, "input_file_id": f.id, "tag": tag}
        self._save(key, state)
        log.info("uploaded batch input %s (%d requests)", f.id, lines.count("\n"))
        return state

    def _find_batch(self, input_file_id: str) -> Any | None:
        """A live batch made from ``input_file_id``, from the server's batch list; ``None`` when there is none
        or the server offers no list (then it is not asked again)."""
        if not self._list_ok:
            return None
        self.client.stats.add(requests=1)
        try:
            page = self.client.openai.batches.list(limit=100)
        except Exception as exc:  # noqa: BLE001 - the list is optional: without it a new batch is made
            err = classify(exc)
            self.client.stats.add(error=err.reason)
            self._list_ok = err.retryable
            log.info("the server's batch list is not available (%s); not looking for an earlier batch", err.reason)
            return None
        for b in page.data:
            if b.input_file_id == input_file_id and b.status not in ("failed", "cancelled", "cancelling"):
                return b
        return None

    def _submit(self, key: str, lines: str, tag: str, state: dict[str, Any]) -> Any:
        if not state.get("input_file_id"):
            state = self._upload(key, lines, tag)
        state = dict(state)

        def create() -> Any:
            """One create, or the batch an earlier create whose answer was lost already made."""
            if state.get("create_sent"):  # an earlier create may have made the batch: its answer was lost
                existing = self._find_batch(state["input_file_id"])
                if existing is not None:
                    log.info("found batch %s already made from %s", existing.id, state["input_file_id"])
                    return existing
            else:
                state["create_sent"] = True
                self._save(key, state)
            return self.client.openai.batches.create(
                input_file_id=state["input_file_id"], endpoint=ENDPOINT, completion_window=self.completion_window,
                metadata={"skytext_key": key[:64], "skytext_tag": tag[:64]})

        batch = self.client.with_retries(create, "batches.create")
        self._save(key, {**state, "batch_id": batch.id})
        log.info("submitted batch %s", batch.id)
        return batch

    def _retrieve(self, batch_id: str) -> Any:
        return self.client.with_retries(lambda: self.client.openai.batches.retrieve(batch_id), "batches.retrieve")

    def _download(self, file_id: str) -> str:
        resp = self.client.with_retries(lambda: self.client.openai.files.content(file_id), f"files.content {file_id}")
        return resp.content.decode("utf-8", "replace")

    # -- the steps ----------------------------------------------------------------------------------------
    def _start(self, key: str, lines: str, tag: str) -> tuple[Any, BatchRun]:
        """The batch saved for ``key`` (resumed), else a new one."""
        state, info = self._load(key), BatchRun()
        if state.get("batch_id"):
            try:
                batch = self._retrieve(state["batch_id"])
                info.resumed, info.batch_id = True, batch.id
                log.info("resuming batch %s (status %s)", batch.id, batch.status)
                return batch, info
            except ChatError as exc:
                if exc.reason != "http_404":  # still there for all we know: the rerun resumes it
                    raise
                log.warning("saved batch %s is unknown to the server (%s); submitting a new one",
                            state["batch_id"], exc)
                state = {k: v for k, v in state.items() if k not in ("batch_id", "create_sent")}
        batch = self._submit(key, lines, tag, state)
        info.created, info.batch_id = True, batch.id
        return batch, info

    def _wait(self, batch: Any) -> Any:
        while batch.status not in TERMINAL:
            counts = batch.request_counts
            log.info("batch %s: %s%s", batch.id, batch.status,
                     f" ({counts.completed}/{counts.total} done, {counts.failed} failed)" if counts else "")
            self._sleep(self.poll_interval_s)
            batch = self._retrieve(batch.id)
        log.info("batch %s finished: %s", batch.id, batch.status)
        return batch

    def _results(self, batch: Any, ids: set[str]) -> dict[str, BatchAnswer]:
        """The result lines of a finished batch, downloaded again while they look cut short."""
        files = [f for f in (batch.output_file_id, batch.error_file_id) if f]
        if not files:
            return {}
        expected, tries = expected_results(batch, len(ids)), self.client.policy.retries + 1
        for attempt in range(tries):
            answers, bad = {}, 0
            for fid in files:  # the output file first: its answers win over the error file's
                got, n_bad = parse_lines(self._download(fid))
                bad += n_bad
                for cid, ans in got.items():
                    if cid in ids:
                        answers.setdefault(cid, ans)
            if not bad and len(answers) >= expected:
                break
            log.warning("batch %s: the downloaded results hold %d of %d lines and %d broken ones%s", batch.id,
                        len(answers), expected, bad, "; fetching them again" if attempt + 1 < tries else "")
            if attempt + 1 < tries:
                self._sleep(self.client.policy.delay(attempt))
        return answers

    # -- the whole thing ------------------------------------------------------------------------------------
    def run(self, requests: list[tuple[str, dict[str, Any]]], tag: str = "batch") -> tuple[dict[str, BatchAnswer], BatchRun]:
        """Submit (or resume) the batch for ``requests`` = ``[(custom_id, body)]``, wait for it, and return
        one :class:`BatchAnswer` per custom id (``batch_missing``/``batch_<status>`` for ids without a result)."""
        if not requests:
            return {}, BatchRun()
        lines = request_lines(requests)
        key = sha256_json({"tag": tag, "lines": lines})
        batch, info = self._start(key, lines, tag)
        batch = self._wait(batch)
        info.status = batch.status
        answers = self._results(batch, {cid for cid, _ in requests})
        self._state_path(key).unlink(missing_ok=True)
        return {cid: answers.get(cid) or missing_answer(cid, batch) for cid, _ in requests}, info
