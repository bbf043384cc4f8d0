"""A Zenodo file server on 127.0.0.1 for tests: ``GET /records/<id>/files/<name>`` answers the bytes of
``server.files[name]``, honouring ``Range: bytes=N-`` (206, as Zenodo does), with fault injection.

Faults: ``server.faults[name]`` is a list of actions consumed one per request (``always:`` prefixed ones are
never consumed): ``500``/``503``/``404`` (that status), ``drop`` (close the connection without an answer),
``truncate`` (announce the full length, send half, close), ``norange`` (ignore a Range header: 200 with the
whole file). ``server.counts[name]`` counts requests, ``server.ranges[name]`` lists the Range headers seen.
"""

from __future__ import annotations

import re
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlparse

from fakes.loopback import LoopbackServer

_RANGE = re.compile(r"bytes=(\d+)-$")


class ZenodoReplay(LoopbackServer):
    """The record's files served from memory on 127.0.0.1, with Range requests and a fault queue per file."""

    def __init__(self, files: dict[str, bytes], record: str = "14714279"):
        super().__init__(_Handler)
        self.files = dict(files)
        self.record = record
        self.ranges: dict[str, list[str]] = defaultdict(list)

    @property
    def url(self) -> str:
        """The folder URL (what ``transients.meerlicht.base_url`` takes)."""
        return f"{super().url}/records/{self.record}/files"


class _Handler(BaseHTTPRequestHandler):
    server: ZenodoReplay
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _status(self, code: int) -> None:
        body = f"status {code}".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        path = unquote(urlparse(self.path).path)
        prefix = f"/records/{self.server.record}/files/"
        name = path[len(prefix):] if path.startswith(prefix) else ""
        if name not in self.server.files:
            self._status(404)
            return
        rng = self.headers.get("Range")
        if rng:
            self.server.ranges[name].append(rng)
        action = self.server.next_fault(name)
        if action in ("500", "503", "404"):
            self._status(int(action))
            return
        if action == "drop":
            self.close_connection = True
            return
        data = self.server.files[name]
        start = 0
        m = _RANGE.match(rng or "")
        if m and action != "norange":
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def meerlicht_files(n: int = 40, layout: str = "NHWC", size: int = 100, seed: int = 0,
                    bad: dict[str, object] | None = None) -> dict[str, bytes]:
    """``MeerLICHT_images.npy`` and ``MeerLICHT_labels.csv`` in the record's layout (float32 ``(n, S, S, 3)``
    for NHWC, ``(n, 3, S, S)`` for NCHW; labels ``index_no,label``), drawn with the demo's painter. ``bad``:
    ``{"nan": i}`` NaNs in triplet i, ``{"label": (i, "Maybe")}``, ``{"dup": i}`` a repeated label row,
    ``{"missing_label": i}``, ``{"extra_label": k}`` a label row for index k (beyond the images)."""
    import io

    import numpy as np

    from skytext.sources.triplets_demo import demo_catalogue, draw_triplet

    bad = bad or {}
    cat = demo_catalogue(n, seed)
    cubes = np.stack([draw_triplet(seed, t, lab, sub, size)[0] for t, lab, sub in cat.itertuples(index=False)])
    if "nan" in bad:
        cubes[int(bad["nan"]), 2, 10:12, 10:12] = np.nan
    arr = np.moveaxis(cubes, 1, -1) if layout == "NHWC" else cubes
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr.astype(np.float32)))
    lines = ["index_no,label"]
    for i, lab in enumerate(cat["label"]):
        if bad.get("missing_label") == i:
            continue
        if "label" in bad and bad["label"][0] == i:
            lab = bad["label"][1]
        lines.append(f"{i},{lab}")
        if bad.get("dup") == i:
            lines.append(f"{i},{lab}")
    if "extra_label" in bad:
        lines.append(f"{int(bad['extra_label'])},Real")
    return {"MeerLICHT_images.npy": buf.getvalue(), "MeerLICHT_labels.csv": ("\n".join(lines) + "\n").encode()}
