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
from skytext.sources.csc.tap import adql_str, read_json, tap_query
from skytext.sources.download import DownloadPolicy, FetchError, fetch_bytes, with_retries, write_atomic
from skytext.sources.ogip import PHAError, read_ebounds, read_spectrum, rebin_energies

FILETYPES = {"pha": "spectrum", "arf": "arf", "rmf": "rmf"}  # our name -> the CSC file service's filetype


def _any_of(keys: list[tuple], cols: tuple[str, ...]) -> str:
    """ADQL ``(c1 = v1 AND c2 = v2) OR ...`` over ``keys`` (strings quoted)."""
    def lit(v):
        return adql_str(v) if isinstance(v, str) else str(int(v))
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


TERMS_PER_QUERY = 200  # (stack, region) or (obsid, obi, region) terms per association query


def _chunked_query(csc: dict, policy, select: str, table: str, keys: list[tuple], cols: tuple[str, ...], what: str,
                   need: tuple[str, ...]) -> pd.DataFrame:
    parts = [_strip(tap_query(csc["tap_url"], f"SELECT {select} FROM {table} WHERE {_any_of(keys[i: i + TERMS_PER_QUERY], cols)}",
                              policy, what), table, need) for i in range(0, len(keys), TERMS_PER_QUERY)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(need))


def _keys(df: pd.DataFrame, cols: tuple[str, ...]) -> tuple[pd.DataFrame, list[tuple]]:
    """Rows whose key columns are all present (NULL ids cannot name a file), and their distinct keys."""
    df = df.copy()
    for c in cols:
        df[c] = df[c].map(_text).replace("", np.nan) if c == "detect_stack_id" else pd.to_numeric(df[c], errors="coerce")
    df = df.dropna(subset=list(cols))
    for c in cols:
        if c != "detect_stack_id":
            df[c] = df[c].astype("int64")
    return df, sorted(set(df[list(cols)].itertuples(index=False, name=None)))


def lookup_observations(names: list[str], csc: dict, policy: DownloadPolicy) -> dict[str, list[dict]]:
    """name -> its per-observation detections (possibly none), for every name asked (raises FetchError).

    Plain queries, each at most TERMS_PER_QUERY terms long, rather than one join (CIAO's own query is a
    five-table join through ``csccli/getProperties``; small plain queries keep every TAP answer short):
    master_stack_assoc by name -> stack_observation_assoc by (detect_stack_id, region_id) ->
    observation_source by (obsid, obi, region_id). Rows with NULL ids are dropped (they name no file)."""
    t = csc["observations"]["tables"]
    a = _strip(tap_query(csc["tap_url"], f"SELECT name, detect_stack_id, region_id, match_type FROM "
                         f"{t['master_stack_assoc']} WHERE name IN ({', '.join(adql_str(n) for n in names)})",
                         policy, "csc stack assoc"), "master_stack_assoc", ("name", "detect_stack_id", "region_id", "match_type"))
    out: dict[str, list[dict]] = {n: [] for n in names}
    a, stacks = _keys(a, ("detect_stack_id", "region_id"))
    b = _chunked_query(csc, policy, "detect_stack_id, region_id, obsid, obi", t["stack_observation_assoc"], stacks,
                       ("detect_stack_id", "region_id"), "csc stack obs", ("detect_stack_id", "region_id", "obsid", "obi"))
    b, _ = _keys(b, ("detect_stack_id", "region_id"))
    b, keys = _keys(b, ("obsid", "obi", "region_id"))
    o = _chunked_query(csc, policy, "obsid, obi, region_id, instrument, src_cnts_aper_b, var_index_b", t["observation_source"],
                       keys, ("obsid", "obi", "region_id"), "csc observation source",
                       ("obsid", "obi", "region_id", "instrument", "src_cnts_aper_b"))
    o, _ = _keys(o, ("obsid", "obi", "region_id"))
    rows = a.merge(b, on=["detect_stack_id", "region_id"]).merge(o, on=["obsid", "obi", "region_id"])
    for r in rows.drop_duplicates(["name", "obsid", "obi", "region_id"]).to_dict("records"):
        if str(r["name"]) not in out:
            continue
        var, cnts = pd.to_numeric(r.get("var_index_b"), errors="coerce"), pd.to_numeric(r["src_cnts_aper_b"], errors="coerce")
        out[str(r["name"])].append({
            "obsid": int(r["obsid"]), "obi": int(r["obi"]), "region_id": int(r["region_id"]),
            "instrument": _text(r["instrument"]).upper(), "match_type": _text(r["match_type"]).lower(),
            "src_cnts": float(cnts) if pd.notna(cnts) else 0.0, "var_index_b": float(var) if pd.notna(var) else None})
    return out


def _text(v) -> str:
    """A VOTable string cell as text ('' for NULL/masked)."""
    return v.strip() if isinstance(v, str) else ""


def usable(rows: list[dict], cfg: dict) -> tuple[list[dict], str, str]:
    """(candidate observations, most source counts first; reason and detail when there are none)."""
    if not rows:
        return [], "no_observation", "the CSC lists no observation of this source"
    acis = [r for r in rows if r["instrument"].startswith("ACIS")]
    if not acis:
        kinds = sorted({r["instrument"] or "NULL" for r in rows})
        reason = "hrc_only" if kinds == ["HRC"] else "no_acis_observation"
        return [], reason, f"{len(rows)} observation(s) of instrument {kinds}; the CSC has PHA spectra for ACIS only"
    ok = [r for r in acis if r["match_type"] in cfg["match_types"]]
    if not ok:
        kinds = sorted({r["match_type"] for r in acis})
        return [], "ambiguous_only", (f"{len(acis)} ACIS detection(s) of match_type {kinds}, none in "
                                      f"spectra.csc.observations.match_types {list(cfg['match_types'])}")
    return sorted(ok, key=lambda r: (-r["src_cnts"], r["obsid"], r["obi"])), "", ""


def obs_tag(r: dict) -> str:
    """The observation's folder name: obsid_obi_rregion, zero-padded."""
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
    """Whether ``path`` holds a whole FITS file astropy opens."""
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
        known = read_json(folder / "names.json")
        merged = {**(known if isinstance(known, dict) else {}), **{k: safe_name(v) for k, v in names.items()}}
        write_atomic(folder / "names.json", lambda p: p.write_text(json.dumps(merged)))
    return paths, fetched


def rebin(pha: Path, rmf: Path, n_channels: int, e_min: float, e_max: float) -> tuple[np.ndarray, float]:
    """Counts of a raw ACIS PHA summed into ``n_channels`` even bins over e_min..e_max keV (channel energies from
    the RMF's EBOUNDS, good-quality channels only); raises :class:`skytext.sources.ogip.PHAError` when the
    files cannot be used: HRC or grating (HETG/LETG) spectra are refused (``not_acis_imaging``)."""
    sp = read_spectrum(pha)
    inst, grating = str(sp.header.get("INSTRUME", "")).upper(), str(sp.header.get("GRATING", "NONE")).upper()
    if inst.startswith("HRC") or grating not in ("NONE", ""):
        raise PHAError("not_acis_imaging", f"{pha.name}: INSTRUME {inst or '?'}, GRATING {grating}; this study "
                                           "uses ACIS imaging (non-grating) spectra only")
    ch, lo, hi = read_ebounds(rmf)
    energy = np.interp(sp.channel, ch, 0.5 * (lo + hi), left=np.nan, right=np.nan)
    out = rebin_energies(sp.counts[sp.good], energy[sp.good], n_channels, e_min, e_max)
    if out.sum() <= 0:
        raise PHAError("no_counts", f"{pha.name} has no counts in {e_min}-{e_max} keV")
    return out.astype(np.int32), sp.exposure


# the observation's own fault (kept after all retries): remember it and try the next observation
PERMANENT = {"not_in_archive", "http_400", "http_404", "corrupt_fits", "truncated_fits", "truncated_gzip"}


def source_files(sid: str, rows: list[dict], csc: dict, raw_dir: Path, policy: DownloadPolicy, n_channels: int,
                 e_range: tuple[float, float]) -> dict:
    """The rebinned spectra of a source's best observations, up to ``max_per_source``.

    An observation whose file the archive lacks or keeps broken, or whose spectrum cannot be used (a
    :class:`~skytext.sources.ogip.PHAError`), is noted in ``<obs>/unusable.json`` (a rerun skips it; delete
    the note to try again) and the next one is tried. A transient failure that outlasts the retries
    (timeouts, 5xx, 429) stops the source, so a rerun tries it again. Returns {"obs": [(row, paths, counts,
    exposure)], "fetched": files fetched, "reason", "detail"} (reason and detail when "obs" is empty)."""
    cfg = csc["observations"]
    cands, reason, detail = usable(rows, cfg)
    got, fetched, failures = [], 0, []
    for r in cands:
        if len(got) >= cfg["max_per_source"]:
            break
        note = safe_join(raw_dir, sid, obs_tag(r), "unusable.json")
        known = read_json(note)
        if isinstance(known, dict):
            failures.append((known.get("reason", "unusable"), known.get("detail", "")))
            continue
        try:
            paths, n = fetch_observation(sid, r, csc["files"], raw_dir, policy)
            fetched += n
            counts, exposure = rebin(paths["pha"], paths["rmf"], n_channels, *e_range)
        except (FetchError, PHAError) as err:
            if isinstance(err, FetchError) and err.reason not in PERMANENT:
                return {"obs": [], "fetched": fetched, "reason": err.reason, "detail": f"{obs_tag(r)}: {err.detail}"[:300]}
            failures.append((err.reason, f"{obs_tag(r)}: {err.detail}"))
            write_atomic(note, lambda p, e=err: p.write_text(json.dumps({"reason": e.reason, "detail": str(e.detail)[:300]})))
            continue
        got.append((r, paths, counts, exposure))
    if not got and failures:
        reason, detail = failures[-1][0], "; ".join(f"{rs}: {d}" for rs, d in failures)[:300]
    return {"obs": got, "fetched": fetched, "reason": reason, "detail": detail}
