"""A MAST replay server on 127.0.0.1 for tests: the far end only, with fault injection.

It answers the real HTTP calls astroquery's ``ObservationsClass`` makes:

* ``POST /portal/Mashup/Mashup.asmx/columnsconfig`` -> recorded ``columnsconfig.json``;
* ``POST /api/v0/invoke`` with a form-encoded Mashup request: ``Mast.Caom.Filtered`` is answered from
  ``observations.json`` filtered by the request's ``obs_collection``/``proposal_id``/``dataRights``
  filters; ``Mast.Caom.Products`` from ``products.json`` filtered by ``obsid``;
* ``GET /api/v0.1/Download/file?uri=mast:HST/product/<name>`` -> the bytes in ``files/<basename>``;
* ``GET /abstracts.cat`` -> the abstracts fixture, when one is given.

Faults: ``server.faults[key]`` is a list of actions consumed one per request to ``key`` (a product file
name, ``"invoke"`` or ``"abstracts"``); an action prefixed ``always:`` is never consumed. Actions: ``500``,
``503``, ``404``, ``drop`` (close the connection without an answer), ``slow`` (sleep ``slow_s`` first),
``truncate`` (announce the full length, send half), ``corrupt`` (same length, bytes that do not decode).
``server.counts[key]`` counts requests. ``server.gate_after = n`` makes the download request number n+1
(0-based n) block until ``server.gate_release`` is set, after setting ``server.gate_hit``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from fakes.loopback import LoopbackServer, ReplayHandler

DATA = Path(__file__).resolve().parents[1] / "data" / "mast"


class ReplayServer(LoopbackServer):
    def __init__(self, data: Path = DATA, abstracts: Path | None = None):
        super().__init__(_Handler)
        self.data = data
        self.abstracts = abstracts
        self.columns = (data / "columnsconfig.json").read_bytes()
        self.observations = json.loads((data / "observations.json").read_text())
        self.products = json.loads((data / "products.json").read_text())
        self.slow_s = 2.0
        self.downloads = 0
        self.gate_after: int | None = None
        self.gate_hit = threading.Event()
        self.gate_release = threading.Event()

    def stop(self) -> None:
        self.gate_release.set()
        super().stop()

    def download_count(self) -> int:
        """Download requests so far (every product file name)."""
        return sum(v for k, v in self.counts.items() if k not in ("invoke", "columnsconfig", "abstracts"))


def _filter_values(filters: list[dict], name: str) -> set[str] | None:
    for f in filters:
        if f.get("paramName", "").lower() == name.lower():
            return {str(v) for v in f.get("values", [])}
    return None


class _Handler(ReplayHandler):
    server: ReplayServer
    error_body, error_ctype = b'{"status":"ERROR"}', "application/json"

    def mangle(self, action, body):
        if action == "corrupt":
            return b"\xff\xd8\xff\xe0" + bytes((i * 7) % 251 for i in range(len(body) - 4))
        return body

    # ------------------------------------------------------------------ routes
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        path = urlparse(self.path).path
        if path.endswith("/columnsconfig"):
            self.server.counts["columnsconfig"] += 1
            return self._send(self.server.columns)
        if path.endswith("/api/v0/invoke"):
            request = json.loads(unquote(raw.split("=", 1)[1]))
            return self._answer("invoke", json.dumps(self._invoke(request)).encode(), "application/json")
        self._send(b"{}", code=404)

    def _invoke(self, request: dict) -> dict:
        service, params = request["service"], request.get("params", {})
        if service == "Mast.Caom.Filtered":
            src, filters = self.server.observations, params.get("filters", [])
            keep = []
            for row in src["data"]:
                ok = True
                for col in ("obs_collection", "proposal_id", "dataRights"):
                    vals = _filter_values(filters, col)
                    if vals is not None and str(row.get(col)) not in vals:
                        ok = False
                keep.append(ok)
            rows = [r for r, k in zip(src["data"], keep) if k]
        elif service == "Mast.Caom.Products":
            src = self.server.products
            wanted = set(str(params.get("obsid", "")).split(","))
            rows = [r for r in src["data"] if str(r["obsID"]) in wanted]
        else:
            return {"status": "ERROR", "msg": f"replay server does not know {service}", "data": []}
        n = len(rows)
        paging = {"page": 1, "pageSize": n, "pagesFiltered": 1, "rows": n, "rowsFiltered": n, "rowsTotal": n}
        return {"status": "COMPLETE", "msg": "", "data": rows, "fields": src["fields"], "paging": paging}

    def do_GET(self):
        url = urlparse(self.path)
        if url.path.endswith("/abstracts.cat") and self.server.abstracts:
            return self._answer("abstracts", self.server.abstracts.read_bytes(), "text/plain")
        if url.path.endswith("/api/v0.1/Download/file"):
            uri = parse_qs(url.query).get("uri", [""])[0]
            name = uri.rsplit("/", 1)[-1]
            file = self.server.data / "files" / name
            if not name or not file.is_file():
                return self._send(b"not found", "text/plain", code=404)
            with self.server.lock:
                n = self.server.downloads
                self.server.downloads += 1
            if self.server.gate_after is not None and n == self.server.gate_after:
                self.server.gate_hit.set()
                self.server.gate_release.wait(30)
            ctype = "image/jpeg" if name.endswith(".jpg") else "application/fits"
            return self._answer(name, file.read_bytes(), ctype)
        self._send(b"not found", "text/plain", code=404)
