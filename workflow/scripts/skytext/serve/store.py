"""Reading a results folder through the contracts, tolerantly: every reader returns ``None`` (and records a
one-line note) for a missing or unreadable file instead of raising, so one bad file never stops the app."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class Vectors:
    """An embedding set of the contracts: L2-normalised rows (memory-mapped) and their row-aligned ids."""

    matrix: np.ndarray
    ids: pd.DataFrame
    name: str
    _keys: object = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def search_keys(self):
        """The matrix as searched (:func:`skytext.serve.textsearch.search_matrix`: checked once, float32),
        made on first use and shared by the study's search and its "more like this"."""
        if self._keys is None:
            from skytext.serve.textsearch import search_matrix

            self._keys = search_matrix(self.matrix)
        return self._keys


@dataclass
class StudyFiles:
    """One study's results folder (``results/<study>/<source>/``) and the notes of what could not be read."""

    study: str
    root: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def source(self) -> str | None:
        """The source name (the folder under ``results/<study>/``), or ``None`` when the study has not run."""
        return self.root.name if self.root is not None else None

    def path(self, rel: str) -> Path | None:
        """``root/rel`` when the study ran (``rel`` comes from code, never from a URL)."""
        return None if self.root is None else self.root / rel

    def note(self, text: str) -> None:
        """Record a one-line note about a missing or unreadable input (once)."""
        if text not in self.notes:
            self.notes.append(text)
            log.warning("%s: %s", self.study, text)

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists in the study's folder."""
        p = self.path(rel)
        return p is not None and p.exists()

    def _read(self, rel: str, read, errors: tuple, quiet: bool, label: str = ""):
        """``read(path)`` of a file of the study, or ``None`` with a one-line note when it is missing (unless
        ``quiet``) or ``read`` raises one of ``errors``."""
        p = self.path(rel)
        if p is None or not p.exists():
            if not quiet:
                self.note(f"{label}{rel} is missing")
            return None
        try:
            return read(p)
        except errors as exc:
            self.note(f"{label}{rel} could not be read ({type(exc).__name__})")
            return None

    def table(self, rel: str, quiet: bool = False) -> pd.DataFrame | None:
        """A Parquet (or CSV) table of the study, or ``None`` with a note."""
        return self._read(rel, lambda p: pd.read_csv(p) if p.suffix == ".csv" else pd.read_parquet(p),
                          (Exception,), quiet)  # any unreadable table becomes a note

    def json(self, rel: str, quiet: bool = False) -> dict | None:
        """A JSON file of the study, or ``None`` with a note."""
        return self._read(rel, lambda p: json.loads(p.read_text()), (OSError, ValueError), quiet)

    def vectors(self, rel_npy: str, quiet: bool = False, ids: str | None = None) -> Vectors | None:
        """``<name>.npy`` memory-mapped with ``<name>.parquet`` (or the ``ids`` table), checked (2-D, float,
        row-aligned, no pickle)."""
        p = self.path(rel_npy)
        if p is None or not p.exists():
            if not quiet:
                self.note(f"embeddings {rel_npy} are missing")
            return None
        try:
            mat = np.load(p, mmap_mode="r", allow_pickle=False)
            meta = pd.read_parquet(p.with_suffix(".parquet") if ids is None else self.root / ids)
        except Exception as exc:  # noqa: BLE001 - a corrupt .npy or .parquet becomes a note
            self.note(f"embeddings {rel_npy} could not be read ({type(exc).__name__})")
            return None
        if mat.ndim != 2 or mat.dtype.kind != "f" or len(meta) != mat.shape[0] or mat.shape[0] == 0:
            self.note(f"embeddings {rel_npy} are malformed (shape {mat.shape}, {len(meta)} ids)")
            return None
        return Vectors(mat, meta.reset_index(drop=True), rel_npy)


def study_folder(results: Path, study: str) -> Path | None:
    """``results/<study>/<source>`` holding the newest results (``None`` when the study has not run)."""
    base = Path(results) / study
    if not base.is_dir():
        return None
    sources = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and any(p.iterdir())]
    if not sources:
        return None
    return max(sources, key=lambda p: p.stat().st_mtime)


def open_study(results: Path, study: str) -> StudyFiles:
    """The :class:`StudyFiles` of a study (with root ``None`` when it has not run)."""
    return StudyFiles(study, study_folder(results, study))


def id_lookup(values) -> dict[str, int]:
    """Map of id (as a string) -> first row index."""
    out: dict[str, int] = {}
    for i, v in enumerate(map(str, values)):
        out.setdefault(v, i)
    return out
