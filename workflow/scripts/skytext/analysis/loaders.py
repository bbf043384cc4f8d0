"""Load an embedding set in any supported format into ids + a float32 matrix, checked.

Formats (``analysis.embeddings[].format``; ``config/examples/`` has one config per format):

* ``skytext``: ``<name>.npy`` beside ``<name>.parquet`` (row-aligned ids), as our studies write them.
* ``aion``: a ``torch.save``'d list of dicts, one per object, keyed by ``id`` (``object_id``) with the
  embedding under ``key`` (``embedding_hsc_desi`` ...); a 2-D token array is mean-pooled. Ids may be
  Python or NumPy scalars (ints, strings).
* ``astroclip``: a tensor file (``image_embeddings.pt``) and ``valid_indices.pt``: rows kept (integers, never
  through float); ids are the row numbers of the full tensor unless ``ids`` names a table or ``.npy``
  row-aligned with it.
* ``astropt``: astroPT's own layout, ``embeddings.npy`` beside ``ids.npy`` (or ``ids`` naming the ids file),
  or an ``.npz`` with the embedding array ``key`` and the id array ``id``.
* ``table``: an ``.npy`` beside an ids table (``ids``: Parquet/CSV/FITS or ``.npy``; default
  ``<path>.parquet``), or a Parquet/CSV file whose ``key`` column holds vectors, or whose numeric columns
  other than ``id`` are the embedding.

Tensors are read with ``torch.load(weights_only=True)``, allowing NumPy scalars (ids saved as ``np.int64``)
and nothing else; arrays with ``allow_pickle=False``: no arbitrary object is ever unpickled. Every problem is
a :class:`LoadError` of one line naming the file: not a tensor/array file, a pickled object that is not
allowed (named), ids not unique, rows not matching ids, rows of different lengths, ids mixing integers and
strings. Rows with NaN/inf values are excluded and counted (``rejects``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


class LoadError(ValueError):
    """An embedding file that cannot be used as it is; the message is one line naming the file."""


@dataclass
class EmbeddingSet:
    """A loaded set: unique ids, a finite float32 matrix, the ids table's other columns and the rejects."""

    name: str
    ids: np.ndarray  # int64 or object (str), unique
    X: np.ndarray  # float32 [n, d], finite
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)  # other columns of the ids table, row-aligned
    rejects: list[dict] = field(default_factory=list)  # rows excluded, with reason

    @property
    def id_type(self) -> str:
        """'int' or 'str'."""
        return id_type(self.ids)


def id_type(ids) -> str:
    """'int' or 'str' for a clean id array; LoadError for a mixture."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "iu":
        return "int"
    if arr.dtype.kind in "US":
        return "str"
    if arr.dtype.kind == "O":
        values = arr.tolist()
        if all(isinstance(v, str) for v in values):
            return "str"
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            return "int"
        kinds = sorted({type(v).__name__ for v in values})
        raise LoadError(f"ids mix types {kinds}")
    raise LoadError(f"ids must be integers or strings, not {arr.dtype}")


def show(value) -> str:
    """repr of an id as the user wrote it (no numpy scalar wrappers)."""
    return repr(value.item() if hasattr(value, "item") else value)


def _decode(values: np.ndarray) -> np.ndarray:
    """Byte strings (FITS string columns, ``np.bytes_`` ids) as text; anything else unchanged."""
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8").astype(object)
    if values.dtype.kind == "O" and len(values) and all(isinstance(v, bytes) for v in values.tolist()):
        return np.array([v.decode("utf-8") for v in values.tolist()], dtype=object)
    return values


def _ids(values, where: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object) if isinstance(values, (list, tuple)) else np.asarray(values)
    arr = _decode(arr)
    try:
        kind = id_type(arr)
    except LoadError as exc:
        raise LoadError(f"{where}: {exc}") from None
    return arr.astype(np.int64) if kind == "int" else arr.astype(object)


def _read_table(path: str | Path) -> pd.DataFrame:
    p = str(path)
    if p.endswith(".parquet"):
        return pd.read_parquet(p)
    if p.endswith(".csv"):
        return pd.read_csv(p)
    if p.endswith((".fits", ".fit", ".fits.gz")):
        from astropy.table import Table

        table = Table.read(p)
        table.convert_bytestring_to_unicode()  # FITS string columns arrive as bytes
        scalar = [c for c in table.colnames if table[c].ndim == 1]
        return table[scalar].to_pandas()
    raise LoadError(f"{p}: unknown table type (use .parquet, .csv or .fits)")


def _head(path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise LoadError(f"{path}: cannot be read ({exc.strerror})") from None


_ZIP = b"PK\x03\x04"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def np_load(path: str | Path):
    """An ``.npy`` array or ``.npz`` archive, read without pickle; LoadError (one line) when it is neither."""
    head = _head(path, 6)
    if not (head.startswith(b"\x93NUMPY") or head.startswith(_ZIP)):
        raise LoadError(f"{path}: not an array file (no NumPy .npy or .npz signature; write it with np.save)")
    try:
        return np.load(str(path), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):
            raise LoadError(f"{path}: holds Python objects (dtype object), which are never unpickled; save ids "
                            "as np.array(ids, dtype=str) or integers") from None
        raise LoadError(f"{path}: not an array file ({_ANSI.sub('', str(exc)).splitlines()[0]})") from None


def _allowed_globals() -> list:
    """What a tensor file may hold besides tensors and plain Python values: NumPy scalars (ids), no more."""
    from numpy._core.multiarray import scalar

    kinds = "i1 i2 i4 i8 u1 u2 u4 u8 f2 f4 f8 ? U S".split()
    return [scalar, np.dtype, *(type(np.dtype(k)) for k in kinds)]


def torch_load(path: str | Path):
    """A ``torch.save``'d object read with ``weights_only=True`` (NumPy scalars allowed, nothing else)."""
    import torch

    head = _head(path, 4)
    if not (head.startswith(_ZIP) or head.startswith(b"\x80")):
        raise LoadError(f"{path}: not a tensor file (torch.save writes a zip archive; this is not one)")
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - one line naming the file and the cause
        text = _ANSI.sub("", str(exc))
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text) or re.search(r"got <class '([^']+)'>", text)
        if found:
            raise LoadError(f"{path}: holds a {found.group(1)} object, which is not allowed (only tensors, numbers, "
                            "strings, lists, dicts and NumPy scalars are read); save plain values instead") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        raise LoadError(f"{path}: not a tensor file ({type(exc).__name__}: {lines[0] if lines else ''})") from None


def _as_matrix(value, where: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise LoadError(f"{where}: embeddings are not numeric ({arr.dtype})")
    return arr.astype(np.float32, copy=False)


def _as_indices(value, where: str) -> np.ndarray:
    """Row indices as int64, never through float32 (exact above 2**24); a boolean mask becomes its rows."""
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value).ravel()
    if arr.dtype.kind == "b":
        return np.flatnonzero(arr)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.float64)
    elif arr.dtype.kind not in "iu":
        raise LoadError(f"{where}: indices must be integers, not {arr.dtype}")
    return arr.astype(np.int64)


def read_ids(ids_path: str | Path, id_col: str, n_rows: int, where: str) -> tuple[np.ndarray, pd.DataFrame]:
    """(ids, other columns) of an ids file row-aligned with ``n_rows`` rows of ``where``: a 1-D ``.npy`` of ids,
    or a table (Parquet/CSV/FITS) with the column ``id_col``."""
    p = str(ids_path)
    if p.endswith(".npy"):
        values = np_load(p)
        if values.ndim != 1:
            raise LoadError(f"{p}: ids must be a 1-D array, got shape {values.shape}")
        table = pd.DataFrame(index=range(len(values)))
    else:
        table = _read_table(p)
        if id_col not in table.columns:
            raise LoadError(f"{p}: no id column {id_col!r} (columns: {', '.join(map(str, table.columns))})")
        values, table = table[id_col].to_numpy(), table.drop(columns=[id_col])
    if len(values) != n_rows:
        raise LoadError(f"{p}: {len(values)} ids for {n_rows} rows of {where}")
    return _ids(values, p), table.reset_index(drop=True)


def load_aion(path, key: str, id_key: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(X, ids, meta) of an AION file: a list of dicts with the embedding under ``key``, the id under ``id_key``."""
    records = torch_load(path)
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise LoadError(f"{path}: expected a list of dicts (AION format), got {type(records).__name__}")
    rows, ids, dims = [], [], None
    for i, rec in enumerate(records):
        if key not in rec or id_key not in rec:
            missing = key if key not in rec else id_key
            raise LoadError(f"{path}: record {i} has no key {missing!r} (keys: {', '.join(map(str, rec))})")
        vec = _as_matrix(rec[key], f"{path} record {i}")
        vec = vec.mean(axis=0) if vec.ndim == 2 else vec.ravel()  # tokens -> mean-pooled
        if dims is not None and vec.shape[0] != dims:
            raise LoadError(f"{path}: record {i} ({show(rec[id_key])}) has {vec.shape[0]} dims, earlier records {dims}")
        dims = vec.shape[0]
        oid = rec[id_key]
        ids.append(oid.item() if hasattr(oid, "item") else oid)
        rows.append(vec)
    if not rows:
        raise LoadError(f"{path}: no records")
    return np.stack(rows), _ids(ids, str(path)), pd.DataFrame(index=range(len(rows)))


def load_astroclip(path, valid_indices, ids_path, id_col: str):
    """(X, ids, meta) of AstroCLIP's tensor file restricted to ``valid_indices`` (ids: row numbers or ``ids_path``)."""
    X = _as_matrix(torch_load(path), str(path))
    if X.ndim != 2:
        raise LoadError(f"{path}: expected a 2-D tensor, got shape {X.shape}")
    valid = _as_indices(torch_load(valid_indices), str(valid_indices))
    if valid.size and (valid.min() < 0 or valid.max() >= len(X)):
        raise LoadError(f"{valid_indices}: indices outside 0..{len(X) - 1} of {path}")
    if ids_path:
        ids, meta = read_ids(ids_path, id_col, len(X), str(path))
        return X[valid], ids[valid], meta.iloc[valid].reset_index(drop=True)
    return X[valid], valid.copy(), pd.DataFrame(index=range(valid.size))


def load_astropt(path, key, id_key: str, ids_path):
    """(X, ids, meta) of astroPT's ``embeddings.npy`` + ``ids.npy`` (or ``ids_path``), or of an ``.npz`` with the
    arrays ``key`` and ``id_key``; token arrays ``[n, tokens, d]`` are mean-pooled."""
    p = str(path)
    if p.endswith(".npz"):
        with np_load(p) as arrays:
            for k in (key, id_key):
                if k not in arrays.files:
                    raise LoadError(f"{p}: no array {k!r} (arrays: {', '.join(arrays.files)})")
            X, ids, meta = _as_matrix(arrays[key], p), _ids(arrays[id_key], p), None
    else:
        X = np_load(p)
        if not isinstance(X, np.ndarray):
            raise LoadError(f"{p}: an .npz archive; name it .npz and set `key` and `id` to its arrays")
        X = _as_matrix(X, p)
        ids, meta = read_ids(ids_path or str(Path(p).with_name("ids.npy")), id_key, len(X), p)
    if X.ndim == 3:
        X = X.mean(axis=1)  # tokens -> mean-pooled
    return X, ids, meta if meta is not None else pd.DataFrame(index=range(len(ids)))


def load_table(path, id_col: str, ids_path, key):
    """(X, ids, meta) of an ``.npy`` beside its ids file, or of a table (vector column ``key`` or numeric columns)."""
    p = str(path)
    if p.endswith(".npy"):
        X = _as_matrix(np_load(p), p)
        ids, meta = read_ids(ids_path or p[: -len(".npy")] + ".parquet", id_col, len(X), p)
        return X, ids, meta
    table = _read_table(p)
    if id_col not in table.columns:
        raise LoadError(f"{p}: no id column {id_col!r}")
    ids = _ids(table[id_col].to_numpy(), p)
    if key:
        if key not in table.columns:
            raise LoadError(f"{p}: no embedding column {key!r}")
        lengths = table[key].map(len)
        if lengths.nunique() > 1:
            bad = int(np.argmax(lengths.to_numpy() != lengths.iloc[0]))
            raise LoadError(f"{p}: row {bad} ({show(ids[bad])}) has {lengths.iloc[bad]} dims, row 0 {lengths.iloc[0]}")
        X = _as_matrix(np.stack(table[key].map(np.asarray).to_list()), p)
        meta = table.drop(columns=[id_col, key])
    else:
        num = [c for c in table.columns if c != id_col and pd.api.types.is_numeric_dtype(table[c])]
        X = _as_matrix(table[num].to_numpy(), p)
        meta = table.drop(columns=[id_col, *num])
    return X, ids, meta.reset_index(drop=True)


def _check_ids(ids: np.ndarray, n_rows: int, where: str) -> None:
    if len(ids) != n_rows:
        raise LoadError(f"{where}: {len(ids)} ids for {n_rows} embedding rows")
    values, counts = np.unique(ids.astype(str) if ids.dtype == object else ids, return_counts=True)
    if (counts > 1).any():
        dup = values[counts > 1]
        raise LoadError(f"{where}: ids are not unique ({len(dup)} repeated, e.g. {show(dup[0])} x{counts.max()})")


def _load_any(entry: dict, path: str):
    fmt = entry["format"]
    if fmt in ("skytext", "table"):
        return load_table(path, entry["id"], entry["ids"] if fmt == "table" else None,
                          entry["key"] if fmt == "table" else None)
    if fmt == "aion":
        return load_aion(path, entry["key"], entry["id"])
    if fmt == "astroclip":
        return load_astroclip(path, entry["valid_indices"], entry["ids"], entry["id"])
    if fmt == "astropt":
        return load_astropt(path, entry["key"], entry["id"], entry["ids"])
    raise LoadError(f"{entry['name']}: unknown format {fmt!r}")


def load_set(entry: dict, path: str) -> EmbeddingSet:
    """Load the set ``entry`` (a complete ``analysis.embeddings`` item) from ``path``, checked."""
    X, ids, meta = _load_any(entry, path)
    if X.ndim != 2 or X.shape[1] < 1:
        raise LoadError(f"{path}: embeddings must be a 2-D array, got shape {X.shape}")
    _check_ids(ids, len(X), str(path))
    finite = np.isfinite(X).all(axis=1)
    rejects = [{"record_type": "embedding", "record_id": str(i), "stage": "analysis_prepare",
                "reason": "non_finite", "detail": f"{entry['name']}: embedding row has NaN or inf values"}
               for i in ids[~finite]]
    keep = np.flatnonzero(finite)
    return EmbeddingSet(entry["name"], ids[keep], np.ascontiguousarray(X[keep]),
                        meta.iloc[keep].reset_index(drop=True), rejects)
