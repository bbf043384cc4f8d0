"""Spectra of the ``csc`` source: which observations hold a master source's spectrum, and their files.

The CSC 2.1 keeps spectra per observation, not per master source. The route (the one CIAO's
``search_csc`` takes, endpoints in config ``spectra.csc``):

1. **Observations** (TAP, batched over the shard's sources, three plain queries): ``master_stack_assoc``
   (name, detect_stack_id, region_id, match_type) -> ``stack_observation_assoc`` (detect_stack_id,
   region_id, obsid, obi) -> ``observation_source`` (obsid, obi, region_id, instrument, src_cnts_aper_b,
   var_index_b). Only ACIS has PHA files; ``match_type`` ``u`` is a detection unique to this master source,
   ``a`` one shared with others.
2. **File names** (``browse_url``): ``GET ?packageset=<obsid>.<obi>.<region_id>/<filetype>/&version=...``
   answers a JSON list of ``{"filename": ...}``; filetypes ``spectrum``, ``arf``, ``rmf``.
3. **Files** (``retrieve_url``): ``GET ?filetype=<filetype>&filename=<name>&version=...``, gzip-compressed
   FITS (decompressed here, then checked whole).

The kept observations (most source counts first, up to ``max_per_source``) are rebinned onto the common
channel grid with each one's RMF EBOUNDS and summed, exposures added.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from skytext.core.safepath import safe_join, safe_name
from skytext.sources.download import DownloadPolicy, FetchError, fetch_bytes, with_retries, write_atomic

FILETYPES = {"pha": "spectrum", "arf": "arf", "rmf": "rmf"}  # our name -> the CSC file service's filetype


def _adql_str(s) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _any_of(keys: list[tuple], cols: tuple[str, ...]) -> str:
    """ADQL ``(c1 = v1 AND c2 = v2) OR ...`` over ``keys`` (strings quoted)."""
    def lit(v):
        return _adql_str(v) if isinstance(v, str) else str(int(v))
    return " OR ".join("(" + " AND ".join(f"{c} = {lit(v)}" for c, v in zip(cols, k)) + ")" for k in keys)


def _strip(df: pd.DataFrame, what: str, cols: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in cols if c not in df]
    if missing:
        raise FetchError("bad_votable", f"{what} answer lacks {', '.join(missing)}", False)
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: v.strip() if isinstance(v, str) else v)
    return df


def lookup_observations(names: list[str], csc: dict, policy: DownloadPolicy) -> dict[str, list[dict]]:
    """name -> its per-observation detections (possibly none), for every name asked (raises FetchError).

    Three plain queries rather than one join (the CSC TAP is reported to refuse multi-condition joins):
    master_stack_assoc by name -> stack_observation_assoc by (detect_stack_id, region_id) ->
    observation_source by (obsid, obi, region_id)."""
    from skytext.sources.csc import tap_query  # csc imports this module

    t = csc["observations"]["tables"]
    a = _strip(tap_query(csc["tap_url"], f"SELECT name, detect_stack_id, region_id, match_type FROM "
                         f"{t['master_stack_assoc']} WHERE name IN ({', '.join(_adql_str(n) for n in names)})",
                         policy, "csc stack assoc"), "master_stack_assoc", ("name", "detect_stack_id", "region_id", "match_type"))
    out: dict[str, list[dict]] = {n: [] for n in names}
    if a.empty:
        return out
    stacks = sorted({(r.detect_stack_id, int(r.region_id)) for r in a.itertuples()})
    b = _strip(tap_query(csc["tap_url"], f"SELECT detect_stack_id, region_id, obsid, obi FROM {t['stack_observation_assoc']} "
                         f"WHERE {_any_of(stacks, ('detect_stack_id', 'region_id'))}", policy, "csc stack obs"),
               "stack_observation_assoc", ("detect_stack_id", "region_id", "obsid", "obi"))
    keys = sorted({(int(r.obsid), int(r.obi), int(r.region_id)) for r in b.itertuples()})
    o = pd.DataFrame(columns=["obsid", "obi", "region_id", "instrument", "src_cnts_aper_b", "var_index_b"])
    if keys:
        o = _strip(tap_query(csc["tap_url"], "SELECT obsid, obi, region_id, instrument, src_cnts_aper_b, var_index_b "
                             f"FROM {t['observation_source']} WHERE {_any_of(keys, ('obsid', 'obi', 'region_id'))}",
                             policy, "csc observation source"), "observation_source",
                   ("obsid", "obi", "region_id", "instrument", "src_cnts_aper_b"))
    rows = a.merge(b, on=["detect_stack_id", "region_id"]).merge(o, on=["obsid", "obi", "region_id"])
    for r in rows.drop_duplicates(["name", "obsid", "obi", "region_id"]).to_dict("records"):
        if str(r["name"]) not in out:
            continue
        out[str(r["name"])].append({
            "obsid": int(r["obsid"]), "obi": int(r["obi"]), "region_id": int(r["region_id"]),
            "instrument": str(r["instrument"]).upper(), "match_type": str(r["match_type"]).lower(),
            "src_cnts": float(r["src_cnts_aper_b"]) if pd.notna(r["src_cnts_aper_b"]) else 0.0,
            "var_index_b": float(r["var_index_b"]) if pd.notna(r.get("var_index_b")) else None})
    return out


def usable(rows: list[dict], cfg: dict) -> tuple[list[dict], str, str]:
    """(candidate observations, most source counts first; reason and detail when there are none)."""
    if not rows:
        return [], "no_observation", "the CSC lists no observation of this source"
    acis = [r for r in rows if r["instrument"].startswith("ACIS")]
    if not acis:
        return [], "hrc_only", f"{len(rows)} HRC observation(s); the CSC has PHA spectra for ACIS only"
    ok = [r for r in acis if r["match_type"] in cfg["match_types"]]
    if not ok:
        kinds = sorted({r["match_type"] for r in acis})
        return [], "ambiguous_only", (f"{len(acis)} ACIS detection(s) of match_type {kinds}, none in "
                                      f"spectra.csc.observations.match_types {list(cfg['match_types'])}")
    return sorted(ok, key=lambda r: (-r["src_cnts"], r["obsid"], r["obi"])), "", ""


def obs_tag(r: dict) -> str:
    return f"{r['obsid']:05d}_{r['obi']:03d}_r{r['region_id']:04d}"


def _unzip(body: bytes, what: str) -> bytes:
    if body[:2] != b"\x1f\x8b":
        return body
    try:
        return gzip.decompress(body)
    except (EOFError, OSError, zlib.error) as exc:
        raise FetchError("truncated_gzip", f"{what}: {type(exc).__name__}: {exc}"[:200], True, body) from exc


def check_fits(body: bytes, what: str) -> bytes:
    """``body`` (gunzipped when gzip) if it is a whole FITS file astropy opens; else a retryable FetchError."""
    from astropy.io import fits

    body = _unzip(body, what)
    if not body.startswith(b"SIMPLE  ="):
        raise FetchError("corrupt_fits", f"{what}: no FITS 'SIMPLE' card at the start", True, body)
    if len(body) % 2880:
        raise FetchError("truncated_fits", f"{what}: {len(body)} bytes, not whole 2880-byte blocks", True, body)
    try:
        with fits.open(io.BytesIO(body), memmap=False) as hdul:
            for h in hdul:
                _ = h.data
    except Exception as exc:  # noqa: BLE001 - astropy raises many types
        raise FetchError("truncated_fits", f"{what}: {type(exc).__name__}: {exc}"[:200], True, body) from exc
    return body


def valid_file(path: Path) -> bool:
    try:
        check_fits(path.read_bytes(), path.name)
        return True
    except (OSError, FetchError):
        return False


def browse(session: requests.Session, r: dict, ft: str, files: dict, policy: DownloadPolicy) -> str:
    """The archive's file name of filetype ``ft`` for observation ``r`` (raises FetchError)."""
    pkg = f"{r['obsid']}.{r['obi']}.{r['region_id']}/{FILETYPES[ft]}/"

    def attempt():
        resp = session.get(files["browse_url"], params={"packageset": pkg, "version": files["version"]},
                           timeout=policy.timeout_s)
        resp.raise_for_status()
        try:
            names = [str(d["filename"]) for d in json.loads(resp.content) if d.get("filename")]
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise FetchError("bad_json", f"browse {pkg}: not a JSON list of files ({type(exc).__name__})", True) from exc
        if not names:
            raise FetchError("not_in_archive", f"browse {pkg}: no {FILETYPES[ft]} file", False)
        return names[0]

    return with_retries(attempt, policy, f"browse {pkg}")


def retrieve(session: requests.Session, filename: str, ft: str, files: dict, policy: DownloadPolicy) -> bytes:
    """The FITS bytes of the archive file ``filename`` (decompressed, verified; raises FetchError)."""
    req = requests.Request("GET", files["retrieve_url"], params={"filetype": FILETYPES[ft], "filename": filename,
                                                                  "version": files["version"]}).prepare()
    return with_retries(lambda: check_fits(fetch_bytes(session, req.url, policy.timeout_s), filename), policy, filename)


def fetch_observation(sid: str, r: dict, files: dict, raw_dir: Path, policy: DownloadPolicy) -> tuple[dict, int]:
    """PHA, ARF and RMF of one observation of source ``sid`` under ``raw_dir/<sid>/<obs>/`` (valid stored
    files kept; the archive's names are recorded in ``names.json``, never used as paths): (paths, fetched)."""
    folder = safe_join(raw_dir, sid, obs_tag(r))
    folder.mkdir(parents=True, exist_ok=True)
    paths, fetched, names = {}, 0, {}
    with requests.Session() as s:
        for ft in FILETYPES:
            dest = folder / f"{ft}.fits"
            if not valid_file(dest):
                names[ft] = browse(s, r, ft, files, policy)
                body = retrieve(s, names[ft], ft, files, policy)
                write_atomic(dest, lambda p, b=body: p.write_bytes(b))
                fetched += 1
            paths[ft] = dest
    if names:
        write_atomic(folder / "names.json", lambda p: p.write_text(json.dumps({k: safe_name(v) for k, v in names.items()})))
    return paths, fetched


def rebin(pha: Path, rmf: Path, n_channels: int, e_min: float, e_max: float) -> tuple[np.ndarray, float]:
    """Counts of a raw PHA summed into ``n_channels`` even bins over e_min..e_max keV (channel energies from
    the RMF's EBOUNDS); raises :class:`skytext.sources.ogip.PHAError` when the files cannot be used."""
    from astropy.io import fits

    from skytext.sources.ogip import PHAError, read_pha

    counts, exposure = read_pha(pha)
    try:
        with fits.open(rmf, memmap=False) as hdul:
            eb = hdul["EBOUNDS"].data
            ch, lo, hi = (np.asarray(eb[c], dtype=float) for c in ("CHANNEL", "E_MIN", "E_MAX"))
        with fits.open(pha, memmap=False) as hdul:
            ext = next(h for h in hdul[1:] if "CHANNEL" in [n.upper() for n in h.columns.names])
            chan = np.asarray(ext.data["CHANNEL"], dtype=float)
    except Exception as exc:  # noqa: BLE001
        raise PHAError("bad_response", f"{rmf.name}: no usable EBOUNDS ({type(exc).__name__})") from exc
    energy = np.interp(chan, ch, 0.5 * (lo + hi), left=np.nan, right=np.nan)
    edges = np.linspace(e_min, e_max, n_channels + 1)
    ok = np.isfinite(energy) & (energy >= e_min) & (energy < e_max)
    out = np.zeros(n_channels)
    np.add.at(out, np.clip(np.searchsorted(edges, energy[ok], side="right") - 1, 0, n_channels - 1), counts[ok])
    if out.sum() <= 0:
        raise PHAError("no_counts", f"{pha.name} has no counts in {e_min}-{e_max} keV")
    return out.astype(np.int32), exposure


def source_files(sid: str, rows: list[dict], csc: dict, raw_dir: Path, policy: DownloadPolicy) -> dict:
    """Fetch the files of a source's best observations, trying the next one when one fails, until
    ``max_per_source`` are stored. Returns {"obs": [(row, paths)], "fetched": n, "reason", "detail"}."""
    cfg = csc["observations"]
    cands, reason, detail = usable(rows, cfg)
    got, fetched, failures = [], 0, []
    for r in cands:
        if len(got) >= cfg["max_per_source"]:
            break
        try:
            paths, n = fetch_observation(sid, r, csc["files"], raw_dir, policy)
        except FetchError as err:
            failures.append(err)
            continue
        got.append((r, paths))
        fetched += n
    if not got and failures:
        reason, detail = failures[-1].reason, "; ".join(f"{e.reason}: {e.detail}" for e in failures)[:300]
    return {"obs": got, "fetched": fetched, "reason": reason, "detail": detail}
