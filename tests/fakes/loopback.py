"""What every replay server of the tests shares: an HTTP server on 127.0.0.1 (a free port) served from a daemon
thread, request counts, and a fault queue per key: ``server.faults[key]`` is a list of actions consumed one per
request, except ``always:<action>``, which is never consumed. :class:`ReplayHandler` answers with the common
faults: ``500``/``503``/``404``, ``429`` (``Retry-After: 0``), ``drop`` (close without an answer), ``slow``
(sleep ``server.slow_s`` first), ``truncate`` (announce the full length, send half); a server's own faults
change the body in :meth:`ReplayHandler.mangle`."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.faults: dict[str, list[str]] = {}
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def next_fault(self, key: str) -> str | None:
        """Count a request for ``key`` and return its next fault action, if any."""
        with self.lock:
            self.counts[key] += 1
            queue = self.faults.get(key) or []
            if not queue:
                return None
            if queue[0].startswith("always:"):
                return queue[0].split(":", 1)[1]
            return queue.pop(0)


class ReplayHandler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"
    error_body, error_ctype = b"server error", "text/plain"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, body: bytes, ctype: str = "application/json", code: int = 200, length: int | None = None,
              headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def mangle(self, action: str | None, body: bytes) -> bytes:
        """The body a server-specific fault ``action`` sends instead of ``body`` (default: unchanged)."""
        return body

    def _answer(self, key: str, body: bytes, ctype: str) -> None:
        """Answer ``body``, or the next fault queued for ``key``."""
        action = self.server.next_fault(key)
        if action in ("500", "503", "404"):
            self.close_connection = True
            return self._send(self.error_body, self.error_ctype, code=int(action))
        if action == "429":
            self.close_connection = True
            return self._send(b"slow down", "text/plain", code=429, headers={"Retry-After": "0"})
        if action == "drop":
            self.close_connection = True
            return None
        if action == "slow":
            time.sleep(self.server.slow_s)
        if action == "truncate":
            self.close_connection = True
            return self._send(body[: len(body) // 2], ctype, length=len(body))
        return self._send(self.mangle(action, body), ctype)
