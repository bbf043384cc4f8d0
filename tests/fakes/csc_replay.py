"""A CSC/SIMBAD/ADS replay server on 127.0.0.1 for tests: the far end only, with fault injection.

Routes (answers built from ``tests/data/csc/catalog.json`` and ``abstracts.json``, or another folder such as
one :mod:`fakes.csc_sky` writes, whose ``spectra.npz`` then gives the PHA counts; a row's ``observations``
default to one unique ACIS detection):

* ``POST /csc/sync`` (pyvo ``run_sync``): the master-source query (``name IN (...)`` or ``ra/dec BETWEEN``
  filters, ``TOP n``), or one of the three association queries (``master_stack_assoc`` by name,
  ``stack_observation_assoc`` by (detect_stack_id, region_id), ``observation_source`` by (obsid, obi,
  region_id)); answered as a VOTable;
* ``POST /simbad/sync``: ``CIRCLE('ICRS', ra, dec, r)`` -> VOTable of (main_id, otype, ra, dec, bibcode);
* ``GET /csccli/browse?packageset=<obsid>.<obi>.<region>/<filetype>/&version=rel2.1``: JSON list of
  ``{"filename": ...}`` (empty for a file the archive lacks, e.g. an HRC spectrum);
* ``GET /csccli/retrieveFile?filetype=spectrum|arf|rmf&filename=...&version=rel2.1``: gzip-compressed FITS,
  names as the CSC's (``acisf01575_000N021_r0012_pha3.fits``): a 1024-channel PHA written with the demo's
  :func:`skytext.sources.ogip.write_pha`, an ARF (SPECRESP) and an RMF (EBOUNDS);
* ``GET /ads/v1/search/query?q=bibcode:(...)``: ADS search JSON; 401 unless ``Authorization: Bearer <token>``.

Faults: ``server.faults[key]`` is a list of actions consumed one per request to ``key`` (a file name,
``"browse:<packageset>"``, ``"csc"``, ``"csc_obs"``, ``"simbad"`` or ``"ads"``); ``always:<action>`` is never
consumed. Actions: ``500``, ``503``, ``429`` (with ``Retry-After: 0``), ``drop`` (close without an answer),
``slow`` (sleep ``slow_s``), ``truncate`` (announce the full length, send half), ``cutfits`` (the FITS inside
cut short, then compressed again: a whole gzip of a broken FITS), ``overflow`` (a VOTable whose QUERY_STATUS
says the row limit cut it). ``server.counts[key]`` counts requests;
``server.tokens_seen`` the Authorization headers.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

from fakes.loopback import LoopbackServer, ReplayHandler

DATA = Path(__file__).resolve().parents[1] / "data" / "csc"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow" / "scripts"))
PI_KEV = 0.0146
FILETYPES = {"spectrum": "pha", "arf": "arf", "rmf": "rmf"}


def observations(row: dict, index: int) -> list[dict]:
    """The replayed observations of catalogue row ``row`` (one unique ACIS detection unless it names some)."""
    return row.get("observations", [{"obsid": 3000 + index, "obi": 0, "region_id": 10 + index, "instrument": "ACIS",
                                      "match_type": "u", "src_cnts_aper_b": row.get("src_cnts_aper_b") or 100.0}])


def file_name(o: dict, ft: str) -> str:
    """The archive's file name of filetype ``ft`` for observation ``o``."""
    inst = "acis" if o["instrument"] == "ACIS" else "hrc"
    return f"{inst}f{o['obsid']:05d}_{o['obi']:03d}N021_r{o['region_id']:04d}_{ft}3.fits"


def _votable(columns: dict[str, list], dtypes: dict[str, str]) -> bytes:
    from astropy.io.votable import from_table
    from astropy.table import Table

    t = Table()
    for name, values in columns.items():
        t[name] = np.array(values, dtype=dtypes[name]) if values else np.array([], dtype=dtypes[name])
    buf = io.BytesIO()
    from_table(t).to_xml(buf)
    return buf.getvalue()


def make_files(name: str, index: int, counts: np.ndarray | None = None) -> dict[str, bytes]:
    """PHA/ARF/RMF bytes of one source: ``counts`` on 1024 PI channels, or an absorbed power law folded
    crudely onto them."""
    from astropy.io import fits

    from skytext.sources.ogip import write_pha

    if counts is None:
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
    """A loopback CSC: TAP (VOTable), csccli browse/retrieveFile, SIMBAD TAP and ADS, with a fault queue."""

    def __init__(self, token: str, data: Path = DATA):
        super().__init__(_Handler)
        self.token = token
        self.catalog = json.loads((data / "catalog.json").read_text())
        self.abstracts = json.loads((data / "abstracts.json").read_text())
        self.files, self.packages = {}, {}
        spectra = dict(np.load(data / "spectra.npz")) if (data / "spectra.npz").exists() else {}
        for i, row in enumerate(self.catalog):
            row["observations"] = observations(row, i)
            for o in row["observations"]:
                made = make_files(row["name"], o["obsid"] + o["region_id"], spectra.get(f"{o['obsid']}_{o['region_id']}"))
                for ft in ("pha", "arf", "rmf"):
                    if o["instrument"] != "ACIS" and ft != "arf":
                        continue  # the CSC has no PHA/RMF for HRC
                    self.files[file_name(o, ft)] = made[ft]
                    self.packages[f"{o['obsid']}.{o['obi']}.{o['region_id']}/{dict(pha='spectrum').get(ft, ft)}/"] = \
                        file_name(o, ft)
        self.tokens_seen: list[str] = []
        self.slow_s = 3.0

    def file_of(self, name: str, ft: str, k: int = 0) -> str:
        """The archive file name of filetype ``ft`` (pha, arf, rmf) of source ``name``'s k-th observation."""
        row = next(r for r in self.catalog if r["name"] == name)
        return file_name(row["observations"][k], ft)

    def file_requests(self) -> int:
        """How many file retrievals were answered."""
        return sum(v for k, v in self.counts.items() if k.endswith(".fits"))


class _Handler(ReplayHandler):
    server: CSCReplay

    def mangle(self, action, body):
        """The body with the next queued fault applied (cut, garbage, gzip damage)."""
        if action == "overflow":  # the service's row limit cut the answer: QUERY_STATUS after the table
            return body.replace(b"</TABLE>", b'</TABLE>\n<INFO name="QUERY_STATUS" value="OVERFLOW"/>', 1)
        if action != "cutfits":
            return body
        raw = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        raw = raw[: len(raw) - 2880 - 100]
        return gzip.compress(raw, mtime=0) if body[:2] == b"\x1f\x8b" else raw

    def do_POST(self):
        """Answer a TAP query (CSC or SIMBAD)."""
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8"))
        path = urlparse(self.path).path
        query = (form.get("QUERY") or [""])[0]
        if path == "/csc/sync" and re.search(r"FROM \S*(master_stack_assoc|stack_observation_assoc|observation_source)\b", query):
            return self._answer("csc_obs", self._csc_obs(query), "text/xml")
        if path == "/csc/sync":
            return self._answer("csc", self._csc(query), "text/xml")
        if path == "/simbad/sync":
            return self._answer("simbad", self._simbad(query), "text/xml")
        self._send(b"not found", "text/plain", code=404)

    def do_GET(self):
        """Answer browse, retrieveFile and ADS requests."""
        u = urlparse(self.path)
        qs = parse_qs(u.query)
        if u.path == "/csccli/browse":
            pkg = (qs.get("packageset") or [""])[0]
            if (qs.get("version") or [""])[0] != "rel2.1":
                return self._send(b"unknown version", "text/plain", code=400)
            found = self.server.packages.get(pkg)
            body = json.dumps([{"filename": found, "filetype": pkg.split("/")[1]}] if found else []).encode()
            return self._answer(f"browse:{pkg}", body, "application/json")
        if u.path == "/csccli/retrieveFile":
            name, ftype = (qs.get("filename") or [""])[0], (qs.get("filetype") or [""])[0]
            body = self.server.files.get(name)
            if body is None or not name.endswith(f"_{FILETYPES.get(ftype, '?')}3.fits"):
                return self._send(b"no such file", "text/plain", code=404)
            return self._answer(name, gzip.compress(body, mtime=0), "application/x-gzip")
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

    def _csc_obs(self, query: str) -> bytes:
        """The three association queries: by name, by (stack, region), by (obsid, obi, region)."""
        # one detect stack per (source, region): observations of a source that share a region share its stack
        rows = [(r["name"], o, f"acisfJ{zlib.crc32(r['name'].encode()):08x}_{o['region_id']:03d}")
                for r in self.server.catalog for o in r["observations"]]
        types = {"name": "U64", "detect_stack_id": "U32", "match_type": "U1", "instrument": "U4", "obsid": "i4", "obi": "i2",
                 "region_id": "i4", "src_cnts_aper_b": "f8", "var_index_b": "f8"}
        if "master_stack_assoc" in query:
            m = re.search(r"name IN \((.*)\)", query)
            names = {n.replace("''", "'") for n in re.findall(r"'((?:[^']|'')*)'", m.group(1))}
            cols = ["name", "detect_stack_id", "region_id", "match_type"]
            keep = [(n, o, st) for n, o, st in rows if n in names]
            vals = lambda n, o, st: {"name": n, "detect_stack_id": st, **o}  # noqa: E731
        elif "stack_observation_assoc" in query:
            want = set(re.findall(r"detect_stack_id = '([^']*)' AND region_id = (\d+)", query))
            cols = ["detect_stack_id", "region_id", "obsid", "obi"]
            keep = [(n, o, st) for n, o, st in rows if (st, str(o["region_id"])) in want]
            vals = lambda n, o, st: {"detect_stack_id": st, **o}  # noqa: E731
        else:
            want = set(re.findall(r"obsid = (\d+) AND obi = (\d+) AND region_id = (\d+)", query))
            cols = ["obsid", "obi", "region_id", "instrument", "src_cnts_aper_b", "var_index_b"]
            keep = [(n, o, st) for n, o, st in rows if (str(o["obsid"]), str(o["obi"]), str(o["region_id"])) in want]
            vals = lambda n, o, st: {"var_index_b": np.nan, **o}  # noqa: E731
        data = {c: [vals(*k)[c] for k in keep] for c in cols}
        return _votable(data, {c: types[c] for c in cols})

    def _simbad(self, query: str) -> bytes:
        m = re.search(r"CIRCLE\('ICRS', ([-\d.]+), ([-\d.]+), ([-\d.]+)\)", query)
        ra, dec, r = (float(x) for x in m.groups())
        cols = {"main_id": [], "otype": [], "ra": [], "dec": [], "bibcode": []}
        for row in self.server.catalog:
            d = np.hypot((row["ra"] - ra) * np.cos(np.radians(dec)), row["dec"] - dec)
            if d <= r:
                for c in row["bibcodes"]:
                    for k, v in zip(cols, (f"SIMBAD {row['name']}", row.get("otype", ""), row["ra"], row["dec"], c)):
                        cols[k].append(v)
        return _votable(cols, {"main_id": "U64", "otype": "U16", "ra": "f8", "dec": "f8", "bibcode": "U19"})
