"""An OpenAI-compatible server on 127.0.0.1 for tests: the far end only, deterministic, with fault injection.

It answers the HTTP calls the real ``openai`` client makes:

* ``POST /v1/chat/completions`` -- a deterministic summary built from the ``Title:``/``Category:`` lines of
  the first user message (or ``server.answers[title]``, a dict or a raw string);
* ``POST /v1/files`` (multipart upload), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``;
* ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/batches`` -- a batch completes on the
  ``batch_polls_needed``-th retrieve unless ``server.batch_hold`` is set; its lines are answered like chat
  requests (faults included). An input file with a line that is not JSON makes the batch ``failed``.

Every request must carry ``Authorization: Bearer <api_key>`` (else 401, counted as ``unauthorised``) when
``api_key`` is given.

Faults: ``server.faults[key]`` is a list of actions consumed one per chat request whose title is ``key``
(``"*"``: any request); an action prefixed ``always:`` is never consumed. Actions: ``429`` (with
``Retry-After: server.retry_after``), ``500``, ``503``, ``400``, ``401``, ``403``, ``drop`` (close the
connection without an answer), ``slow`` (sleep ``slow_s`` first), ``invalid_json`` (an answer that is not JSON), ``schema`` (JSON
that violates the summary schema), ``fence`` (a valid answer inside a Markdown code fence). In a batch,
``drop`` and ``slow`` have no effect, status faults become failed lines in the error file, ``missing``
leaves the line out of both output files (and out of ``request_counts``), and ``code:<name>`` (batch only)
puts a line with no response and the error code ``<name>`` in the error file (``code:request_dropped``).

Batch API faults: ``server.list_status`` (e.g. 404: a server without ``GET /v1/batches``);
``server.upload_faults``, consumed one per ``POST /v1/files``: ``500``/``503``/``429`` answer that status,
``truncate`` stores only the first half of the upload (and says so in ``bytes``, as a server that got a cut
upload would), ``corrupt`` stores the first half but reports the full size (the batch then fails
validation); ``server.download_faults``, consumed one per download of a batch output or error file:
``truncate`` sends only its first half (with a matching ``Content-Length``), ``500`` answers 500.

``server.counts`` counts requests: ``chat``, ``chat:<title>``, ``file_upload``, ``file_content``,
``batch_create``, ``batch_retrieve``, ``batch_list``, ``batch_line``, ``unauthorised``; ``server.times[key]``
when they came; ``server.max_inflight`` the most chat requests in progress at once; ``server.usage`` the
tokens of every answered (status 200) request: ``chat_in``, ``chat_out``, ``batch_in``, ``batch_out``.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TITLE = re.compile(r"^Title:\s*(.*)$", re.MULTILINE)
_CATEGORY = re.compile(r"^Category:\s*(.*)$", re.MULTILINE)


def _first_user_text(body: dict[str, Any]) -> str:
    for m in body.get("messages") or []:
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                return "\n".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
            return str(c or "")
    return ""


def default_answer(title: str, category: str) -> dict[str, list[str]]:
    """The stub's deterministic summary of a proposal."""
    words = [w for w in re.findall(r"[a-z]+", title.lower()) if len(w) > 3][:3] or ["unknown"]
    return {"objects_and_phenomena": [category.lower() or "astronomical objects", " ".join(words)],
            "science_use_cases": [f"study of {' '.join(words)}"]}


class OpenAIStub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api_key: str | None = "sk-stub-key"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api_key = api_key
        self.faults: dict[str, list[str]] = {}
        self.answers: dict[str, Any] = {}
        self.counts: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.slow_s = 2.0
        self.delay_s = 0.0  # every chat answer waits this long (to make requests overlap)
        self.inflight = 0
        self.max_inflight = 0
        self.retry_after = "0.2"
        self.batch_polls_needed = 2
        self.batch_hold = False
        self.list_status: int | None = None
        self.upload_faults: list[str] = []
        self.download_faults: list[str] = []
        self.usage: Counter[str] = Counter()
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> "OpenAIStub":
        self._thread.start()
        return self

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):  # a timed-out client
            super().handle_error(request, client_address)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def new_id(self, prefix: str) -> str:
        with self.lock:
            return f"{prefix}-{next(self._ids)}"

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1
            self.times.setdefault(key, []).append(time.monotonic())

    def pop(self, queue: list[str]) -> str | None:
        with self.lock:
            return queue.pop(0) if queue else None

    def next_fault(self, key: str) -> str | None:
        with self.lock:
            for k in (key, "*"):
                queue = self.faults.get(k) or []
                if queue:
                    return queue[0].split(":", 1)[1] if queue[0].startswith("always:") else queue.pop(0)
        return None

    # -- the model ---------------------------------------------------------------------------------------
    def answer(self, body: dict[str, Any], via: str = "chat") -> tuple[int, dict[str, Any], str | None]:
        """(status, JSON body, fault) for one chat request; ``drop``/``slow``/``missing`` are left to the
        caller; ``via`` (``chat`` or ``batch``) names the ``usage`` counters an answer adds to."""
        text = _first_user_text(body)
        m, c = _TITLE.search(text), _CATEGORY.search(text)
        title, category = (m.group(1).strip() if m else "*"), (c.group(1).strip() if c else "")
        self.count(f"chat:{title}")
        fault = self.next_fault(title)
        if fault == "missing" or (fault or "").startswith("code:"):
            return 0, {}, fault
        if fault in ("429", "500", "503", "400", "401", "403"):
            kind = {"429": "rate_limit_error", "400": "invalid_request_error", "401": "invalid_request_error",
                    "403": "permission_error"}.get(fault, "server_error")
            return int(fault), {"error": {"message": f"stub fault {fault}", "type": kind, "code": None}}, fault
        answer = self.answers.get(title, default_answer(title, category))
        content = answer if isinstance(answer, str) else json.dumps(answer)
        if fault == "invalid_json":
            content = '{"objects_and_phenomena": ["galaxies"], "science_use_cases": '
        elif fault == "schema":
            content = json.dumps({"objects_and_phenomena": [], "science_use_cases": ["a"] * 7, "extra": 1})
        elif fault == "fence":
            content = f"```json\n{content}\n```"
        prompt_chars = sum(len(json.dumps(m_.get("content"))) for m_ in body.get("messages") or [])
        usage = {"prompt_tokens": prompt_chars // 4, "completion_tokens": max(1, len(content) // 4)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        with self.lock:
            self.usage[f"{via}_in"] += usage["prompt_tokens"]
            self.usage[f"{via}_out"] += usage["completion_tokens"]
        return 200, {
            "id": self.new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "stub"), "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content, "refusal": None}}],
        }, fault

    def finish_batch(self, batch: dict[str, Any]) -> None:
        lines_out, lines_err = [], []
        try:
            reqs = [json.loads(line) for line in self.files[batch["input_file_id"]]["data"].decode().splitlines()]
        except ValueError as exc:  # a cut upload: validation fails, as on the real Batch API
            batch.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": [
                {"code": "invalid_json_line", "message": f"input file is not JSONL: {exc}", "line": None}]})
            return
        for req in reqs:
            self.count("batch_line")
            status, body, fault = self.answer(req["body"], via="batch")
            if fault == "missing":
                continue
            if (fault or "").startswith("code:"):
                lines_err.append(json.dumps({"id": self.new_id("batch_req"), "custom_id": req["custom_id"], "response": None,
                                             "error": {"code": fault[5:], "message": f"stub line error {fault[5:]}"}}))
                continue
            rec = {"id": self.new_id("batch_req"), "custom_id": req["custom_id"],
                   "response": {"status_code": status, "request_id": "r", "body": body}, "error": None}
            (lines_out if status == 200 else lines_err).append(json.dumps(rec))
        now = int(time.time())
        for name, lines in (("output_file_id", lines_out), ("error_file_id", lines_err)):
            if lines:
                fid = self.new_id("file")
                self.files[fid] = {"data": ("\n".join(lines) + "\n").encode(), "filename": f"{name}.jsonl",
                                   "purpose": "batch_output", "created_at": now}
                batch[name] = fid
        batch.update(status="completed", completed_at=now, finalizing_at=now,
                     request_counts={"total": len(lines_out) + len(lines_err), "completed": len(lines_out),
                                     "failed": len(lines_err)})

    def file_object(self, fid: str) -> dict[str, Any]:
        f = self.files[fid]
        return {"id": fid, "object": "file", "bytes": f.get("size", len(f["data"])), "created_at": f["created_at"],
                "filename": f["filename"], "purpose": f["purpose"], "status": "processed"}


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIStub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, obj: Any = None, raw: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _authorised(self) -> bool:
        if self.server.api_key and self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
            self.server.count("unauthorised")
            self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                       "code": "invalid_api_key"}})
            return False
        return True

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self._body()
        if not self._authorised():
            return
        path = self.path.split("?")[0]
        srv = self.server
        if path == "/v1/chat/completions":
            srv.count("chat")
            with srv.lock:
                srv.inflight += 1
                srv.max_inflight = max(srv.max_inflight, srv.inflight)
            try:
                time.sleep(srv.delay_s)
                req = json.loads(body)
                status, obj, fault = srv.answer(req)
            finally:
                with srv.lock:
                    srv.inflight -= 1
            if fault == "drop":
                self.close_connection = True
                return
            if fault == "slow":
                time.sleep(srv.slow_s)
            headers = {"Retry-After": srv.retry_after} if status == 429 else None
            self._send(status, obj, headers=headers)
        elif path == "/v1/files":
            srv.count("file_upload")
            fault = srv.pop(srv.upload_faults)
            if fault in ("500", "503", "429"):
                self._send(int(fault), {"error": {"message": f"stub fault {fault}", "type": "server_error"}})
                return
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
            fields, data, filename = {}, b"", "upload"
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name == "file":
                    data = part.get_payload(decode=True) or b""
                    filename = part.get_filename() or filename
                else:
                    fields[name] = (part.get_payload(decode=True) or b"").decode()
            size = len(data)
            if fault in ("truncate", "corrupt"):
                data = data[: len(data) // 2]
            fid = srv.new_id("file")
            srv.files[fid] = {"data": data, "size": size if fault == "corrupt" else len(data), "filename": filename,
                              "purpose": fields.get("purpose", ""), "created_at": int(time.time())}
            self._send(200, srv.file_object(fid))
        elif path == "/v1/batches":
            srv.count("batch_create")
            req = json.loads(body)
            if req.get("input_file_id") not in srv.files:
                self._send(400, {"error": {"message": "unknown input file", "type": "invalid_request_error"}})
                return
            bid = srv.new_id("batch")
            srv.batches[bid] = {
                "id": bid, "object": "batch", "endpoint": req["endpoint"], "errors": None,
                "input_file_id": req["input_file_id"], "completion_window": req["completion_window"],
                "status": "validating", "output_file_id": None, "error_file_id": None,
                "created_at": int(time.time()), "metadata": req.get("metadata"), "polls": 0,
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
            }
            self._send(200, self._public(srv.batches[bid]))
        else:
            self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})

    def _public(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if k != "polls"}

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if not self._authorised():
            return
        srv = self.server
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "batches"] and len(parts) == 2:
            srv.count("batch_list")
            if srv.list_status:
                self._send(srv.list_status, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
                return
            data = [self._public(b) for b in reversed(list(srv.batches.values()))]
            self._send(200, {"object": "list", "data": data, "has_more": False,
                             "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})
        elif parts[:2] == ["v1", "batches"] and len(parts) == 3 and parts[2] in srv.batches:
            srv.count("batch_retrieve")
            with srv.lock:
                b = srv.batches[parts[2]]
                if b["status"] not in ("completed", "failed", "expired", "cancelled"):
                    b["polls"] += 1
                    b["status"] = "in_progress"
                    done = b["polls"] >= srv.batch_polls_needed and not srv.batch_hold
                else:
                    done = False
            if done:
                srv.finish_batch(b)
            self._send(200, self._public(b))
        elif parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content" and parts[2] in srv.files:
            srv.count("file_content")
            data = srv.files[parts[2]]["data"]
            fault = srv.pop(srv.download_faults) if srv.files[parts[2]]["purpose"] == "batch_output" else None
            if fault == "500":
                self._send(500, {"error": {"message": "stub fault 500", "type": "server_error"}})
                return
            self._send(200, raw=data[: len(data) // 2] if fault == "truncate" else data)
        elif parts[:2] == ["v1", "files"] and len(parts) == 3 and parts[2] in srv.files:
            self._send(200, srv.file_object(parts[2]))
        else:
            self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
