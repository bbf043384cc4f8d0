"""The MeerLICHT real/bogus triplets published with Stoppa et al. (2025) on Zenodo (record 14714279), as
acquisition shards of the triplet contract (:mod:`skytext.sources.triplets_demo`).

**Fetch** (:func:`fetch`): ``MeerLICHT_images.npy`` and ``MeerLICHT_labels.csv`` from ``base_url`` into
``download_dir`` through :func:`pooch.retrieve` with :class:`RangeDownloader`: bytes go to ``<file>.part``
first and a retry (5xx, a dropped or truncated answer; :func:`skytext.sources.download.with_retries`) asks
only for the rest with an HTTP ``Range`` request, so an interrupted download resumes; pooch checks the hash
(``images_hash``/``labels_hash``; ``null`` = nothing to check: the computed SHA-256 is logged with a warning
and written to ``fetch.json``, to be pinned in the config) and moves the file in place only when it matches.
A file already there with the right hash is not fetched again.

**Validation** (:func:`read_images`, :func:`read_labels`, :func:`shard_from_files`): the images file must be
a numeric ``(n, S, S, 3)`` (``layout: NHWC``) or ``(n, 3, S, S)`` (``NCHW``) array -- anything else is a
one-line error naming the file and the ``layout`` key. A file cut short is read as far as whole triplets go;
the labels of the missing rows become rejects. The labels table needs the ``id_column`` (integer row index
into the array) and ``label_column`` (values listed in ``real_values``/``bogus_values``; unless ``match_case``,
in any case and spacing: `` real``, ``BOGUS`` and ``Real`` all count). Every triplet gets
one fate: a shard row, or a reject with its reason -- ``no_image`` (a label whose index is outside the
array), ``no_label`` (an image row no label names), ``duplicate_id`` (an index with several label rows: all
of them), ``bad_id``, ``bad_label``; cutout problems (NaNs, all-zero, constant) are
the dataset stage's (:func:`skytext.sources.triplets_demo.triplet_problem`). Counts that differ from
``expected_n``/``expected_real``/``expected_bogus`` are logged and written in the shard's summary, not fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pooch
import requests

from skytext.core.sharding import in_shard
from skytext.sources.download import DownloadPolicy, FetchError, with_retries
from skytext.sources.triplets_demo import CHANNELS, meta_frame, write_shard

log = logging.getLogger(__name__)
STAGE = "transients_meerlicht"
CHUNK = 1 << 16


def triplet_id(index: int) -> str:
    """The triplet id of row ``index`` of the images array (``ml00042``)."""
    return f"ml{int(index):05d}"


# ------------------------------------------------------------------------------------------ fetch


class RangeDownloader:
    """A pooch downloader that resumes: bytes land in ``<final>.part`` and a retry sends ``Range: bytes=N-``
    (a server that answers 200 instead of 206 starts the file again)."""

    def __init__(self, final: Path, policy: DownloadPolicy):
        self.part = final.with_name(final.name + ".part")
        self.policy = policy
        self.requests = 0

    def _attempt(self, session: requests.Session, url: str) -> None:
        have = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        self.requests += 1
        with session.get(url, headers=headers, stream=True, timeout=self.policy.timeout_s) as resp:
            if resp.status_code == 416 and have:  # the part file is already whole
                return
            resp.raise_for_status()
            resumed = resp.status_code == 206
            if have and not resumed:
                log.info("%s: the server ignored the range request; starting again", url)
            announced = resp.headers.get("Content-Length")
            resp.raw.enforce_content_length = False  # keep what came; a short answer is checked below
            got = 0
            with open(self.part, "ab" if resumed else "wb") as fh:
                while chunk := resp.raw.read(CHUNK, decode_content=True):
                    fh.write(chunk)
                    got += len(chunk)
        if announced is not None and announced.isdigit() and got != int(announced):
            raise FetchError("truncated", f"got {got} of {announced} bytes; resuming", True)

    def __call__(self, url: str, output_file: Any, pooch_obj: Any = None, check_only: bool = False) -> Any:
        if check_only:
            return True
        with requests.Session() as session:
            with_retries(lambda: self._attempt(session, url), self.policy, url)
        data = self.part.read_bytes()
        if isinstance(output_file, (str, Path)):
            Path(output_file).write_bytes(data)
        else:
            output_file.write(data)
        self.part.unlink()
        return None


@dataclass
class Fetched:
    """One fetched file: where it is, its SHA-256 and size, whether a configured hash was checked, requests."""

    path: Path
    sha256: str
    size: int
    hash_checked: bool
    requests: int


def fetch_file(base_url: str, name: str, known_hash: str | None, folder: Path, policy: DownloadPolicy) -> Fetched:
    """One file of the record in ``folder`` (fetched when missing or when its hash does not match)."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{name}"
    dl = RangeDownloader(folder / name, policy)
    try:
        path = Path(pooch.retrieve(url, known_hash, fname=name, path=folder, downloader=dl, progressbar=False))
    except FetchError as err:
        raise RuntimeError(f"could not fetch {url}: {err.reason} ({err.detail}) after {policy.retries} retries") from None
    except ValueError as err:  # pooch: hash mismatch
        raise RuntimeError(f"{url}: {' '.join(str(err).split())[:300]}; check transients.meerlicht "
                           f"hashes or delete {folder / name}") from None
    sha = pooch.file_hash(str(path), alg="sha256")
    if known_hash is None:
        log.warning("no hash configured for %s: computed sha256:%s (pin it in transients.meerlicht)", name, sha)
    return Fetched(path, sha, path.stat().st_size, known_hash is not None, dl.requests)


def fetch(mcfg: dict[str, Any]) -> dict[str, Any]:
    """Both files of the record; returns the ``fetch.json`` record (paths, sizes, SHA-256, requests made)."""
    policy = DownloadPolicy.from_config(mcfg["download"])
    folder = Path(mcfg["download_dir"])
    out = {}
    for kind in ("images", "labels"):
        f = fetch_file(mcfg["base_url"], mcfg[f"{kind}_file"], mcfg[f"{kind}_hash"], folder, policy)
        out[kind] = {"path": str(f.path), "sha256": f"sha256:{f.sha256}", "bytes": f.size,
                     "hash_checked": f.hash_checked, "requests": f.requests}
    return out


# ------------------------------------------------------------------------------------------ validation


def read_images(path: str | Path, layout: str, size: int) -> tuple[np.ndarray, int]:
    """(the array, memory-mapped where possible; whole triplets in the file). A file cut short keeps its
    whole triplets (the shape in its header says how many there should be)."""
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh)
        except (ValueError, OSError) as err:
            raise ValueError(f"{path}: not a .npy array ({err})") from None
        offset = fh.tell()
    if dtype.hasobject or not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise ValueError(f"{path}: images have dtype {dtype}, expected a float (or integer) array")
    want = (size, size, 3) if layout == "NHWC" else (3, size, size)
    if len(shape) != 4 or tuple(shape[1:]) != want or fortran:
        raise ValueError(f"{path}: images have shape {tuple(shape)}{' (Fortran order)' if fortran else ''}, "
                         f"expected (n, {', '.join(map(str, want))}) for transients.meerlicht.layout {layout}")
    per = int(np.prod(want)) * dtype.itemsize
    whole = min(int(shape[0]), max(0, (path.stat().st_size - offset) // per))
    if whole < shape[0]:
        log.warning("%s is cut short: %d of %d triplets whole", path, whole, shape[0])
    arr = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(whole, *want)) if whole else \
        np.zeros((0, *want), dtype)
    return arr, int(shape[0])


def to_contract(cubes: np.ndarray, layout: str, channels: list[str]) -> np.ndarray:
    """``[n, 3, S, S]`` float32 in the contract's channel order (New, Reference, Difference)."""
    x = np.asarray(cubes, dtype=np.float32)
    if layout == "NHWC":
        x = np.moveaxis(x, -1, 1)
    order = [list(channels).index(c) for c in CHANNELS]
    return np.ascontiguousarray(x[:, order])


def read_labels(path: str | Path, id_column: str, label_column: str) -> pd.DataFrame:
    """The labels table as strings (a missing column is a one-line error)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: unreadable labels table ({' '.join(str(err).split())[:200]})") from None
    missing = [c for c in (id_column, label_column) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: no column(s) {', '.join(missing)} (columns: {', '.join(df.columns)[:200]}); "
                         "set transients.meerlicht.id_column / label_column")
    return df


def _reject(tid: str, reason: str, detail: str) -> dict:
    return {"record_type": "triplet", "record_id": tid, "stage": STAGE, "reason": reason, "detail": detail[:300]}


def label_key(value: str, match_case: bool) -> str:
    """A label value as it is matched: inner spacing collapsed, ends trimmed and, unless ``match_case``, case
    folded."""
    v = " ".join(str(value).split())
    return v if match_case else v.casefold()


def label_values(real_values: list[str], bogus_values: list[str], match_case: bool) -> dict[str, str]:
    """{matched label value: Real/Bogus} (:func:`label_key` of each configured value)."""
    real = {label_key(v, match_case): "Real" for v in real_values}
    bogus = {label_key(v, match_case): "Bogus" for v in bogus_values}
    if set(real) & set(bogus):
        raise ValueError("transients.meerlicht.real_values and bogus_values share a value "
                         f"({sorted(set(real) & set(bogus))[0]!r}{'' if match_case else ', whatever its case'})")
    return real | bogus


def align(labels: pd.DataFrame, n_images: int, n_declared: int, id_column: str, label_column: str,
          values: dict[str, str], match_case: bool) -> tuple[pd.DataFrame, list[dict]]:
    """(``index, obs_id, label`` rows that name an image and a valid label, rejects of the rest and of image
    rows no label names). ``n_images`` whole triplets of ``n_declared`` in the file; ``values`` maps the
    label values (:func:`label_values`) to Real/Bogus."""
    rows, rejects, seen = [], [], set()
    ids = pd.to_numeric(labels[id_column].str.strip(), errors="coerce")
    times = ids.value_counts()
    for line, r in enumerate(labels.to_dict("records"), start=2):
        raw_id, label = str(r[id_column]).strip(), str(r[label_column]).strip()
        try:
            idx = int(raw_id)
        except ValueError:
            rejects.append(_reject(f"line{line}", "bad_id", f"{id_column} {raw_id[:40]!r} on line {line} is not an integer"))
            continue
        tid = triplet_id(idx) if idx >= 0 else f"line{line}"
        if idx in seen:
            continue
        seen.add(idx)
        if times.get(idx, 0) > 1:
            rejects.append(_reject(tid, "duplicate_id", f"{id_column} {idx} has {times[idx]} rows in the labels table"))
        elif not 0 <= idx < n_images:
            why = "cut off (the file is truncated)" if idx < n_declared else f"outside the {n_declared} images"
            rejects.append(_reject(tid, "no_image", f"{id_column} {idx}: image row {why}"))
        elif label_key(label, match_case) not in values:
            rejects.append(_reject(tid, "bad_label", f"label {label[:40]!r} is not one of {', '.join(values)}"
                                   f"{'' if match_case else ' (in any case)'}"))
        else:
            rows.append({"index": idx, "obs_id": tid, "label": values[label_key(label, match_case)]})
    for idx in sorted(set(range(n_images)) - seen):
        rejects.append(_reject(triplet_id(idx), "no_label", f"image row {idx} has no row in the labels table"))
    return pd.DataFrame(rows, columns=["index", "obs_id", "label"]), rejects


def shard_from_files(images: str | Path, labels: str | Path, mcfg: dict[str, Any], shard: int, n_shards: int,
                     npy_path: str | Path) -> tuple[np.ndarray, pd.DataFrame, list[dict], dict]:
    """(cubes, meta, rejects, summary) of one acquisition shard."""
    arr, declared = read_images(images, mcfg["layout"], int(mcfg["size"]))
    lab = read_labels(labels, mcfg["id_column"], mcfg["label_column"])
    values = label_values(mcfg["real_values"], mcfg["bogus_values"], bool(mcfg["match_case"]))
    good, rejects = align(lab, len(arr), declared, mcfg["id_column"], mcfg["label_column"], values,
                          bool(mcfg["match_case"]))
    summary = {"images": declared, "whole_images": len(arr), "label_rows": len(lab),
               "labels": good["label"].value_counts().to_dict()}
    for key, want, got in (("expected_n", mcfg["expected_n"], declared),
                           ("expected_real", mcfg["expected_real"], summary["labels"].get("Real", 0)),
                           ("expected_bogus", mcfg["expected_bogus"], summary["labels"].get("Bogus", 0))):
        if want is not None and int(want) != int(got):
            log.warning("MeerLICHT: %s is %s but the files hold %s", key, want, got)
            summary.setdefault("mismatches", {})[key] = {"expected": want, "found": got}
    mine = np.asarray(in_shard(good["obs_id"], shard, n_shards), bool)
    good = good.loc[mine].sort_values("index").reset_index(drop=True)
    rejects = [r for r in rejects if in_shard([r["record_id"]], shard, n_shards)[0]]
    cubes = to_contract(arr[good["index"].to_numpy()], mcfg["layout"], mcfg["channels"]) if len(good) else \
        np.zeros((0, 3, int(mcfg["size"]), int(mcfg["size"])), np.float32)
    meta = meta_frame([{"obs_id": r["obs_id"], "modality": "triplet", "path": str(npy_path), "row": i,
                        "label": r["label"], "subtype": "", "gt_attrs": json.dumps({"index": int(r["index"])})}
                       for i, r in enumerate(good.to_dict("records"))])
    return cubes, meta, rejects, summary


def write_meerlicht_shard(fetch_json: str | Path, mcfg: dict[str, Any], shard: int, n_shards: int, npy: str,
                          parquet: str, rejects_path: str, summary_path: str) -> dict:
    """Write one acquisition shard of the fetched files (``fetch.json``) and its summary; returns the summary."""
    got = json.loads(Path(fetch_json).read_text(encoding="utf-8"))
    cubes, meta, rejects, summary = shard_from_files(got["images"]["path"], got["labels"]["path"], mcfg, shard,
                                                     n_shards, npy)
    write_shard(cubes, meta, rejects, npy, parquet, rejects_path)
    summary.update(shard=shard, triplets=len(meta), rejected=len(rejects))
    Path(summary_path).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary
