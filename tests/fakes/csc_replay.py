"""A CSC/SIMBAD/ADS replay server on 127.0.0.1 for tests: the far end only, with fault injection.

Routes (answers built from ``tests/data/csc/catalog.json`` and ``abstracts.json``):

* ``POST /csc/sync`` (pyvo ``run_sync``): the ADQL's ``name IN (...)`` or ``ra/dec BETWEEN`` filters
  applied to the catalogue, ``TOP n`` honoured, answered as a VOTable (astropy.io.votable);
* ``POST /simbad/sync``: ``CIRCLE('ICRS', ra, dec, r)`` -> VOTable of (main_id, bibcode) for the
  catalogue sources within r;
* ``GET /files/retrieveFile?filetype=pha3|arf3|rmf3&filename=<name>_<type>3.fits``: a 1024-channel PHA
  written with the demo's :func:`skytext.spectra.pha.write_pha`, an ARF (SPECRESP) and an RMF (EBOUNDS);
* ``GET /ads/v1/search/query?q=bibcode:(...)``: ADS search JSON; 401 unless ``Authorization: Bearer
  <token>``.

Faults: ``server.faults[key]`` is a list of actions consumed one per request to ``key`` (a file name,
``"csc"``, ``"simbad"`` or ``"ads"``); ``always:<action>`` is never consumed. Actions: ``500``, ``503``,
``429`` (with ``Retry-After: 0``), ``drop`` (close without an answer), ``slow`` (sleep ``slow_s``),
``truncate`` (announce the full length, send half), ``cutfits`` (a FITS body cut short, with a matching
Content-Length). ``server.counts[key]`` counts requests; ``server.tokens_seen`` the Authorization headers.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from fakes.loopback import LoopbackServer

DATA = Path(__file__).resolve().parents[1] / "data" / "csc"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow" / "scripts"))
PI_KEV = 0.0146


def _votable(columns: dict[str, list], dtypes: dict[str, str]) -> bytes:
    from astropy.io.votable import from_table
    from astropy.table import Table

    t = Table()
    for name, values in columns.items():
        t[name] = np.array(values, dtype=dtypes[name]) if values else np.array([], dtype=dtypes[name])
    buf = io.BytesIO()
    from_table(t).to_xml(buf)
    return buf.getvalue()


def make_files(name: str, index: int) -> dict[str, bytes]:
    """PHA/ARF/RMF bytes of one source: an absorbed power law folded crudely onto 1024 PI channels."""
    from astropy.io import fits

    from skytext.spectra.pha import write_pha

    rng = np.random.default_rng(index)
    e = (np.arange(1, 1025) - 0.5) * PI_KEV
    shape = np.where(e > 0.3, e ** -1.8 * np.exp(-0.5 / np.maximum(e, 0.05)), 0.0)
    counts = rng.poisson(200 * (1 + index) * shape / shape.sum() + 0.01)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.pha"
        write_pha(p, counts, 10000.0 + index, {"OBJECT": name[:60], "TELESCOP": "CHANDRA", "INSTRUME": "ACIS"})
        out["pha"] = p.read_bytes()
    ch = np.arange(1, 1025, dtype=np.int32)
    eb = fits.BinTableHDU.from_columns([fits.Column("CHANNEL", "J", array=ch),
                                        fits.Column("E_MIN", "E", array=(ch - 1) * PI_KEV),
                                        fits.Column("E_MAX", "E", array=ch * PI_KEV)], name="EBOUNDS")
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), eb]).writeto(buf)
    out["rmf"] = buf.getvalue()
    lo = np.linspace(0.3, 11.0, 500)
    arf = fits.BinTableHDU.from_columns([fits.Column("ENERG_LO", "E", array=lo), fits.Column("ENERG_HI", "E", array=lo + 0.0214),
                                         fits.Column("SPECRESP", "E", array=400 * np.exp(-((lo - 1.5) / 3) ** 2))],
                                        name="SPECRESP")
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), arf]).writeto(buf)
    out["arf"] = buf.getvalue()
    return out


class CSCReplay(LoopbackServer):
    def __init__(self, token: str, data: Path = DATA):
        super().__init__(_Handler)
        self.token = token
        self.catalog = json.loads((data / "catalog.json").read_text())
        self.abstracts = json.loads((data / "abstracts.json").read_text())
        self.files = {}
        for i, row in enumerate(self.catalog):
            for ft, body in make_files(row["name"], i).items():
                self.files[f"{row['name']}_{ft}3.fits"] = body
        self.tokens_seen: list[str] = []
        self.slow_s = 3.0

    def file_requests(self) -> int:
        return sum(v for k, v in self.counts.items() if k.endswith(".fits"))


class _Handler(BaseHTTPRequestHandler):
    server: CSCReplay
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, body: bytes, ctype: str, code: int = 200, length: int | None = None, headers: dict | None = None):
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

    def _answer(self, key: str, body: bytes, ctype: str) -> None:
        action = self.server.next_fault(key)
        if action in ("500", "503", "404"):
            self.close_connection = True
            return self._send(b"server error", "text/plain", code=int(action))
        if action == "429":
            self.close_connection = True
            return self._send(b"slow down", "text/plain", code=429, headers={"Retry-After": "0"})
        if action == "drop":
            self.close_connection = True
            return
        if action == "slow":
            time.sleep(self.server.slow_s)
        if action == "truncate":
            self.close_connection = True
            return self._send(body[: len(body) // 2], ctype, length=len(body))
        if action == "cutfits":
            body = body[: len(body) - 2880 - 100]
        self._send(body, ctype)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8"))
        path = urlparse(self.path).path
        query = (form.get("QUERY") or [""])[0]
        if path == "/csc/sync":
            return self._answer("csc", self._csc(query), "text/xml")
        if path == "/simbad/sync":
            return self._answer("simbad", self._simbad(query), "text/xml")
        self._send(b"not found", "text/plain", code=404)

    def do_GET(self):
        u = urlparse(self.path)
        qs = parse_qs(u.query)
        if u.path == "/files/retrieveFile":
            name = (qs.get("filename") or [""])[0]
            body = self.server.files.get(name)
            if body is None:
                return self._send(b"no such file", "text/plain", code=404)
            return self._answer(name, body, "application/fits")
        if u.path == "/ads/v1/search/query":
            auth = self.headers.get("Authorization", "")
            self.server.tokens_seen.append(auth)
            if auth != f"Bearer {self.server.token}":
                return self._send(b'{"error": "Unauthorized"}', "application/json", code=401)
            codes = re.findall(r'"([^"]+)"', (qs.get("q") or [""])[0])
            docs = [{"bibcode": c, "title": [f"Paper {c}"], "abstract": self.server.abstracts[c]}
                    for c in codes if c in self.server.abstracts]
            body = json.dumps({"responseHeader": {"status": 0}, "response": {"numFound": len(docs), "docs": docs}})
            return self._answer("ads", body.encode(), "application/json")
        self._send(b"not found", "text/plain", code=404)

    def _csc(self, query: str) -> bytes:
        rows = self.server.catalog
        m = re.search(r"name IN \((.*?)\)\s*(AND|$)", query)
        if m:
            names = {n.replace("''", "'") for n in re.findall(r"'((?:[^']|'')*)'", m.group(1))}
            rows = [r for r in rows if r["name"] in names]
        for col in ("dec", "ra"):
            b = re.search(rf"\b{col} BETWEEN ([-\d.]+) AND ([-\d.]+)", query)
            if b:
                lo, hi = float(b.group(1)), float(b.group(2))
                rows = [r for r in rows if lo <= r[col] <= hi]
        s = re.search(r"significance >= ([\d.]+)", query)
        if s:
            rows = [r for r in rows if r["significance"] >= float(s.group(1))]
        top = re.search(r"TOP (\d+)", query)
        rows = rows[: int(top.group(1))] if top else rows
        sel = re.search(r"SELECT (?:TOP \d+ )?(.*?) FROM", query).group(1)
        cols = [c.strip() for c in sel.split(",")]
        data = {c: [(np.nan if r.get(c) is None else r.get(c)) if c != "name" else r["name"] for r in rows] for c in cols}
        return _votable(data, {c: ("U64" if c == "name" else "f8") for c in cols})

    def _simbad(self, query: str) -> bytes:
        m = re.search(r"CIRCLE\('ICRS', ([-\d.]+), ([-\d.]+), ([-\d.]+)\)", query)
        ra, dec, r = (float(x) for x in m.groups())
        ids, codes = [], []
        for row in self.server.catalog:
            d = np.hypot((row["ra"] - ra) * np.cos(np.radians(dec)), row["dec"] - dec)
            if d <= r:
                for c in row["bibcodes"]:
                    ids.append(f"SIMBAD {row['name']}")
                    codes.append(c)
        return _votable({"main_id": ids, "bibcode": codes}, {"main_id": "U64", "bibcode": "U19"})
