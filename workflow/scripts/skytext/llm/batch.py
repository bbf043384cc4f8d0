"""The OpenAI Batch API path: write the requests as JSONL, upload, submit, poll, download.

Resumable: the batch is identified by a hash of its requests, and its state (input file id, then batch id)
is written to ``<state_dir>/<key>.json`` as soon as the server has handed out each id. A run that is killed
while polling finds the state on rerun and goes back to polling the same batch instead of paying for a
second one. Before every ``batches.create`` attempt the server's batch list is searched for one already made
from our input file, which also covers a create request whose answer was lost. The state is removed once a
finished batch's results have been handed back (the caller caches them), so a later run with requests still
unanswered submits a fresh batch for those only.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from skytext.llm.cache import atomic_write_text, sha256_json
from skytext.llm.client import ChatClient

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
    """What :func:`run_batch` did: ids, whether it created the batch or resumed one, final status."""

    batch_id: str = ""
    created: bool = False
    resumed: bool = False
    status: str = ""


def request_lines(requests: list[tuple[str, dict[str, Any]]]) -> str:
    """The Batch API input file: one ``{"custom_id", "method", "url", "body"}`` JSON object per line."""
    return "".join(json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT, "body": body},
                              sort_keys=True, ensure_ascii=False) + "\n" for cid, body in requests)


def parse_output(text: str) -> dict[str, BatchAnswer]:
    """Answers from a Batch output or error file (JSONL); unparseable lines are logged and skipped."""
    out: dict[str, BatchAnswer] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            cid = str(rec["custom_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("batch output line %d is not a result record; skipped", n)
            continue
        resp, err = rec.get("response") or {}, rec.get("error")
        status = resp.get("status_code")
        if err or status != 200:
            code = (err or {}).get("code") if isinstance(err, dict) else None
            msg = (err or {}).get("message", "") if isinstance(err, dict) else str(err or "")
            body_err = (resp.get("body") or {}).get("error") if isinstance(resp.get("body"), dict) else None
            if body_err and not msg:
                msg = str(body_err.get("message", body_err) if isinstance(body_err, dict) else body_err)
            out[cid] = BatchAnswer(cid, error=f"batch_{code or ('http_' + str(status) if status else 'error')}",
                                   detail=str(msg)[:300])
        else:
            out[cid] = BatchAnswer(cid, body=resp.get("body"))
    return out


class BatchRunner:
    """Runs one batch of chat requests to completion, resuming a batch a killed run left behind."""

    def __init__(self, client: ChatClient, state_dir: str | Path, poll_interval_s: float = 30.0,
                 completion_window: str = "24h", sleep: Callable[[float], None] = time.sleep):
        self.client, self.state_dir = client, Path(state_dir)
        self.poll_interval_s, self.completion_window, self._sleep = poll_interval_s, completion_window, sleep

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
    def _find_batch(self, input_file_id: str) -> Any | None:
        page = self.client.with_retries(lambda: self.client.openai.batches.list(limit=100), "batches.list")
        for b in page.data:
            if b.input_file_id == input_file_id and b.status not in ("failed", "cancelled", "cancelling"):
                return b
        return None

    def _submit(self, key: str, lines: str, tag: str, state: dict[str, Any]) -> Any:
        if not state.get("input_file_id"):
            name = f"skytext-{tag}-{key[:12]}.jsonl"
            f = self.client.with_retries(
                lambda: self.client.openai.files.create(file=(name, lines.encode("utf-8"), "application/jsonl"),
                                                        purpose="batch"), "files.create")
            state = {"key": key, "input_file_id": f.id, "tag": tag}
            self._save(key, state)
            log.info("uploaded batch input %s (%d requests)", f.id, lines.count("\n"))

        def create() -> Any:
            existing = self._find_batch(state["input_file_id"])
            if existing is not None:
                log.info("found batch %s already made from %s", existing.id, state["input_file_id"])
                return existing
            return self.client.openai.batches.create(
                input_file_id=state["input_file_id"], endpoint=ENDPOINT, completion_window=self.completion_window,
                metadata={"skytext_key": key[:64], "skytext_tag": tag[:64]})

        batch = self.client.with_retries(create, "batches.create")
        state = {**state, "batch_id": batch.id}
        self._save(key, state)
        log.info("submitted batch %s", batch.id)
        return batch

    def _download(self, file_id: str | None) -> str:
        if not file_id:
            return ""
        resp = self.client.with_retries(lambda: self.client.openai.files.content(file_id), f"files.content {file_id}")
        return resp.content.decode("utf-8", "replace")

    # -- the whole thing ------------------------------------------------------------------------------------
    def run(self, requests: list[tuple[str, dict[str, Any]]], tag: str = "batch") -> tuple[dict[str, BatchAnswer], BatchRun]:
        """Submit (or resume) the batch for ``requests`` = ``[(custom_id, body)]``, wait for it, and return
        one :class:`BatchAnswer` per custom id (``batch_missing`` for ids the server never answered)."""
        if not requests:
            return {}, BatchRun()
        lines = request_lines(requests)
        key = sha256_json({"tag": tag, "lines": lines})
        state, info = self._load(key), BatchRun()
        batch = None
        if state.get("batch_id"):
            try:
                batch = self.client.with_retries(
                    lambda: self.client.openai.batches.retrieve(state["batch_id"]), "batches.retrieve")
                info.resumed = True
                log.info("resuming batch %s (status %s)", batch.id, batch.status)
            except Exception as exc:  # noqa: BLE001 - a batch the server forgot: submit again
                log.warning("saved batch %s cannot be retrieved (%s); submitting a new one", state["batch_id"], exc)
                state = {k: v for k, v in state.items() if k != "batch_id"}
        if batch is None:
            batch = self._submit(key, lines, tag, state)
            info.created = True
        info.batch_id = batch.id
        while batch.status not in TERMINAL:
            counts = batch.request_counts
            log.info("batch %s: %s%s", batch.id, batch.status,
                     f" ({counts.completed}/{counts.total} done, {counts.failed} failed)" if counts else "")
            self._sleep(self.poll_interval_s)
            bid = batch.id
            batch = self.client.with_retries(lambda: self.client.openai.batches.retrieve(bid), "batches.retrieve")
        info.status = batch.status
        log.info("batch %s finished: %s", batch.id, batch.status)
        answers = parse_output(self._download(batch.output_file_id))
        for cid, ans in parse_output(self._download(batch.error_file_id)).items():
            answers.setdefault(cid, ans)
        for cid, _ in requests:
            answers.setdefault(cid, BatchAnswer(cid, error="batch_missing", detail=f"no answer; batch {batch.status}"))
        self._state_path(key).unlink(missing_ok=True)
        return answers, info
