"""What every replay server of the tests shares: an HTTP server on 127.0.0.1 (a free port) served from a daemon
thread, request counts, and a fault queue per key: ``server.faults[key]`` is a list of actions consumed one per
request, except ``always:<action>``, which is never consumed."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import ThreadingHTTPServer


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
