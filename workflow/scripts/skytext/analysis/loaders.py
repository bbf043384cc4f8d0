"""Load an embedding set in any supported format into ids + a float32 matrix, checked.

Formats (``analysis.embeddings[].format``):

* ``skytext``: ``<name>.npy`` beside ``<name>.parquet`` (row-aligned ids), as our studies write them.
* ``aion``: a ``torch.save``'d list of dicts, one per object, keyed by ``id`` (``object_id``) with the
  embedding under ``key`` (``embedding_hsc_desi`` ...); a 2-D token array is mean-pooled.
* ``astroclip``: a tensor file (``image_embeddings.pt``) and ``valid_indices.pt``: rows kept; ids are the
  row numbers of the full tensor unless ``ids`` names a table row-aligned with it.
* ``astropt``: an ``.npz`` with the embedding array ``key`` and the id array ``id``.
* ``table``: an ``.npy`` beside an ids table (``ids``, or ``<path>.parquet``), or a Parquet/CSV file whose
  ``key`` column holds vectors, or whose numeric columns other than ``id`` are the embedding.

Tensors are read with ``torch.load(weights_only=True)`` and arrays with ``allow_pickle=False``: no arbitrary
object is ever unpickled. A file whose ids are not unique, whose rows do not match its ids, whose rows
differ in length or whose ids mix integers and strings is refused with one line naming the file; rows with
NaN/inf values are excluded and counted (``rejects``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


class LoadError(ValueError):
    """An embedding file that cannot be used as it is; the message is one line naming the file."""


@dataclass
class EmbeddingSet:
    name: str
    ids: np.ndarray  # int64 or object (str), unique
    X: np.ndarray  # float32 [n, d], finite
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)  # other columns of the ids table, row-aligned
    rejects: list[dict] = field(default_factory=list)  # rows excluded, with reason

    @property
    def id_type(self) -> str:
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


def _ids(values, where: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object) if isinstance(values, (list, tuple)) else np.asarray(values)
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

        return Table.read(p).to_pandas()
    raise LoadError(f"{p}: unknown table type (use .parquet, .csv or .fits)")


def _torch_load(path: str | Path):
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - one line naming the file
        raise LoadError(f"{path}: not a tensor file loadable with weights_only=True "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None


def _as_matrix(value, where: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise LoadError(f"{where}: embeddings are not numeric ({arr.dtype})")
    return arr.astype(np.float32, copy=False)


def load_aion(path, key: str, id_key: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    records = _torch_load(path)
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


def load_astroclip(path, valid_indices, ids_path=None, id_col: str = "id"):
    X = _as_matrix(_torch_load(path), str(path))
    if X.ndim != 2:
        raise LoadError(f"{path}: expected a 2-D tensor, got shape {X.shape}")
    valid = np.asarray(_as_matrix(_torch_load(valid_indices), str(valid_indices))).astype(np.int64).ravel()
    if valid.size and (valid.min() < 0 or valid.max() >= len(X)):
        raise LoadError(f"{valid_indices}: indices outside 0..{len(X) - 1} of {path}")
    if ids_path:
        table = _read_table(ids_path)
        if len(table) != len(X):
            raise LoadError(f"{ids_path}: {len(table)} ids for {len(X)} rows of {path}")
        ids = _ids(table[id_col].to_numpy(), str(ids_path))[valid]
        meta = table.drop(columns=[id_col]).iloc[valid].reset_index(drop=True)
    else:
        ids, meta = valid.copy(), pd.DataFrame(index=range(valid.size))
    return X[valid], ids, meta


def load_astropt(path, key: str, id_key: str):
    with np.load(str(path), allow_pickle=False) as arrays:
        for k in (key, id_key):
            if k not in arrays.files:
                raise LoadError(f"{path}: no array {k!r} (arrays: {', '.join(arrays.files)})")
        X, ids = _as_matrix(arrays[key], str(path)), arrays[id_key]
    if X.ndim == 3:
        X = X.mean(axis=1)  # tokens -> mean-pooled
    return X, _ids(ids, str(path)), pd.DataFrame(index=range(len(ids)))


def load_table(path, id_col: str, ids_path=None, key=None):
    p = str(path)
    if p.endswith(".npy"):
        X = _as_matrix(np.load(p, allow_pickle=False), p)
        ids_path = ids_path or p[: -len(".npy")] + ".parquet"
        table = _read_table(ids_path)
        if id_col not in table.columns:
            raise LoadError(f"{ids_path}: no id column {id_col!r} (columns: {', '.join(map(str, table.columns))})")
        if len(table) != len(X):
            raise LoadError(f"{ids_path}: {len(table)} ids for {len(X)} rows of {p}")
        return X, _ids(table[id_col].to_numpy(), str(ids_path)), table.drop(columns=[id_col]).reset_index(drop=True)
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


def load_set(entry: dict, path: str) -> EmbeddingSet:
    """Load the set ``entry`` (a complete ``analysis.embeddings`` item) from ``path``, checked."""
    fmt = entry["format"]
    if fmt in ("skytext", "table"):
        ids_path = entry["ids"] if fmt == "table" else None
        X, ids, meta = load_table(path, entry["id"], ids_path, entry["key"] if fmt == "table" else None)
    elif fmt == "aion":
        X, ids, meta = load_aion(path, entry["key"], entry["id"])
    elif fmt == "astroclip":
        X, ids, meta = load_astroclip(path, entry["valid_indices"], entry["ids"], entry["id"])
    elif fmt == "astropt":
        X, ids, meta = load_astropt(path, entry["key"], entry["id"])
    else:
        raise LoadError(f"{entry['name']}: unknown format {fmt!r}")
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
