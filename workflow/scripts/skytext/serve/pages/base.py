"""What every study page provides to the app (search, object pages, media by id, maps, tables); a study
page module subclasses :class:`StudyPage` and is registered in :mod:`skytext.serve.pages`."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.serve.store import StudyFiles, Vectors, id_lookup
from skytext.serve.textsearch import Group

MEDIA_CACHE = 512  # pictures kept per study (PNG bytes: tens of kB each)


@dataclass
class Space:
    """An embedding space shown as a map: its vectors, the column of ids, and where UMAP coordinates live."""

    name: str
    title: str
    vectors: Vectors | None
    id_column: str
    umap: pd.DataFrame | None = None  # id, umap_1, umap_2 (from a study), else computed on demand


@dataclass
class Table:
    """A comparison table: columns, rows (cells may be ``(text, url)`` links) and a caption."""

    title: str
    columns: list[str]
    rows: list[list]
    caption: str = ""
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (label, url, why)


class StudyPage:
    """Base class of a study's pages; every method degrades to "nothing" when its inputs are missing."""

    name = "study"
    title = "Study"
    searchable = True
    class_column: str | None = None  # column of :meth:`catalogue` holding the true class

    def __init__(self, files: StudyFiles, cache: Path):
        self.files, self.cache = files, Path(cache)
        self._lock = threading.Lock()
        self._warm = False
        self._media: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._media_lock = threading.Lock()

    @property
    def ran(self) -> bool:
        """Whether the study has a results folder."""
        return self.files.root is not None

    # --- life cycle
    def warm(self) -> None:
        """Load what search needs (models, indices, thresholds) once; failures become notes."""
        with self._lock:
            if self._warm or not self.ran:
                self._warm = True
                return
            try:
                self.load_search()
            except Exception as exc:  # noqa: BLE001 - a broken model or index must not stop the app
                self.files.note(f"search is off: {type(exc).__name__}: {str(exc)[:160]}")
            self._warm = True

    def load_search(self) -> None:
        """Load the search side (override)."""

    # --- search
    def search(self, query: str, limit: int) -> Group | None:
        """Hits for a text query, or ``None`` when the study cannot search (override)."""
        return None

    def hit_info(self, oid: str) -> dict:
        """Title, class and thumbnail url of a hit (override)."""
        return {"title": oid}

    # --- objects
    def object(self, oid: str) -> dict | None:
        """The context of an object page, or ``None`` for an unknown id (override)."""
        return None

    def media(self, kind: str, oid: str) -> bytes | None:
        """PNG bytes of an object's picture by id (never a path from the URL), or ``None`` (override)."""
        return None

    def media_cached(self, kind: str, oid: str) -> bytes | None:
        """:meth:`media` through a per-page LRU of the last :data:`MEDIA_CACHE` pictures (a result list
        shows each hit's thumbnail, its object page shows the same picture again); unknown ids are not kept."""
        key = (kind, str(oid))
        with self._media_lock:
            if key in self._media:
                self._media.move_to_end(key)
                return self._media[key]
        data = self.media(kind, oid)
        if data is not None:
            with self._media_lock:
                self._media[key] = data
                while len(self._media) > MEDIA_CACHE:
                    self._media.popitem(last=False)
        return data

    # --- maps and tables
    def spaces(self) -> list[Space]:
        """Embedding spaces of the study (override)."""
        return []

    def catalogue(self, space: str) -> pd.DataFrame | None:
        """Per-object properties for colouring a map, indexed by id (override)."""
        return None

    def tables(self) -> list[Table]:
        """The study's comparison tables (override)."""
        return []

    def url(self, oid: str) -> str:
        """The object page of an id."""
        from urllib.parse import quote

        return f"/object/{self.name}/{quote(str(oid), safe='')}"


def png_bytes(image) -> bytes:
    """PNG bytes of a PIL image."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def figure_png(fig, tight: bool = True) -> bytes:
    """PNG bytes of a matplotlib ``Figure`` (made without pyplot: no global state, safe in worker threads);
    ``tight`` crops to the drawn content (matplotlib then draws the figure twice: a figure with a fixed
    layout passes ``tight=False``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight" if tight else None)
    return buf.getvalue()


def resolve_data_path(results_root: Path | None, rel: str) -> Path | None:
    """A data file named in a contract table (relative to the workflow folder), found next to the results
    folder; ``None`` unless it exists. The name comes from our own tables, never from a URL."""
    if results_root is None or not rel:
        return None
    p = Path(rel)
    candidates = [p] if p.is_absolute() else [parent / p for parent in results_root.parents]
    for c in candidates:
        if c.is_file():
            return c
    return None


class Rows:
    """A table with an id -> row map built once, for row look-ups by id (the columns stay in the table's
    own Arrow/NumPy storage: no Python object per cell). A row is read column by column from that storage
    (NumPy columns by index, extension columns through their array): the values ``df.iloc[i]`` gives, at a
    fraction of its cost (no Series built per look-up)."""

    def __init__(self, df: pd.DataFrame | None, id_column: str):
        self.df = None if df is None else df.reset_index(drop=True)
        self.pos = {} if df is None else id_lookup(df[id_column])
        self._columns = [] if self.df is None else [(c, _column(self.df[c])) for c in self.df.columns]

    @classmethod
    def optional(cls, df: pd.DataFrame | None, id_column: str) -> "Rows":
        """Rows of a table that may be absent or lack ``id_column`` (an optional output of another rule):
        then no rows."""
        return cls(df if df is not None and id_column in df else None, id_column)

    def __contains__(self, oid) -> bool:
        return str(oid) in self.pos

    def get(self, oid) -> dict | None:
        """The row of ``oid`` as a dict (missing values as ``None``), or ``None``."""
        i = self.pos.get(str(oid))
        if i is None:
            return None
        return {c: _clean(col[i]) for c, col in self._columns}


class _ArrowStrings:
    """An Arrow string column read one cell at a time (``str``, missing as ``None``) without a Python object
    per cell held in memory."""

    def __init__(self, arr):
        import pyarrow as pa

        arr = pa.array(arr)  # zero-copy through __arrow_array__
        self.arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr

    def __getitem__(self, i: int):
        return self.arr[i].as_py()


def _column(col: pd.Series):
    """A column indexable by row with the values ``df.iloc[i]`` holds (after :func:`_clean`): NumPy columns as
    NumPy arrays, Arrow-backed strings through Arrow (``str``; missing as ``None``, as cleaned), other
    extension columns (nullable integers, categories, Python strings) as their pandas array."""
    if isinstance(col.dtype, np.dtype):
        return col.to_numpy()
    if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
        return _ArrowStrings(col.array)
    return col.array


def _clean(v):
    try:
        return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v
    except (TypeError, ValueError):
        return v
