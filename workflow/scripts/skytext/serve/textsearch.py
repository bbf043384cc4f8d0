"""A calibrated text-to-vector index shared by the study pages: the engine's :class:`Calibration` (scores as
z-scores against background phrases), exact top-k (:func:`skytext.eval.search.topk` with per-key scales) and
the "no good match" threshold of :func:`skytext.eval.query.choose_threshold`. Nothing is re-implemented here."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from skytext.core.vocab import read_lines

# the engine's vocabulary files (as skytext.eval.query finds them; imported lazily: torch loads with it)
BACKGROUND_FILE = Path(__file__).resolve().parents[4] / "resources" / "vocab" / "descriptions.txt"
SEARCH_VOCAB = BACKGROUND_FILE.parents[1] / "search"
NULL_FILE = next((p for p in (SEARCH_VOCAB / "offtopic_queries.txt", BACKGROUND_FILE.with_name("null_queries.txt"))
                  if p.is_file()), SEARCH_VOCAB / "offtopic_queries.txt")  # off-topic queries of search_eval
CLASS_QUERIES_FILE = SEARCH_VOCAB / "class_queries.txt"  # "<class>: <query>" lines (the image study's)
CHUNK = 1 << 17  # key rows per block of the engine's top-k: one block for a 100k index (one query: ~1 MB of scores)
IN_RAM_BYTES = 1 << 30  # an index up to this size (as float32) is searched from RAM, larger ones from the map
_MINILM: dict[str, object] = {}


def search_matrix(keys: np.ndarray) -> np.ndarray:
    """The keys as a float32 array in RAM when they fit :data:`IN_RAM_BYTES` (each search is then a plain
    matrix product per chunk, with no float16 conversion), else the memory map itself."""
    if keys.shape[0] * keys.shape[1] * 4 <= IN_RAM_BYTES:
        return np.ascontiguousarray(keys, dtype=np.float32)
    return keys


@dataclass
class Hit:
    """One search result: the row, its id, the calibrated score and the raw cosine."""

    row: int
    id: str
    score: float
    cosine: float


@dataclass
class Group:
    """One study's answer to a query: hits best first, the threshold and whether the best hit clears it."""

    study: str
    hits: list[Hit]
    threshold: float | None
    note: str = ""
    match_score: float | None = None  # the score the threshold applies to, when not the best hit's

    @property
    def best(self) -> float | None:
        """The score compared with the threshold: ``match_score``, else the best hit's."""
        if self.match_score is not None:
            return self.match_score
        return self.hits[0].score if self.hits else None

    @property
    def match(self) -> bool:
        """Whether the best score clears the study's threshold (no threshold: any hit counts)."""
        if not self.hits:
            return False
        return self.threshold is None or self.best >= self.threshold


class TextIndex:
    """Keys (L2-normalised rows, memory-mapped) searched by encoded queries with calibrated scores."""

    def __init__(self, keys: np.ndarray, ids: Sequence[str], encode: Callable[[list[str]], np.ndarray],
                 background: list[str] | None = None):
        from skytext.eval.query import Calibration

        self.keys, self.ids, self.encode = search_matrix(keys), [str(i) for i in ids], encode
        bg = background if background is not None else read_lines(BACKGROUND_FILE)
        self.calibration = Calibration.from_embeddings(encode(bg))
        self.scales = self.calibration.key_scales(self.keys, chunk_size=CHUNK, device="cpu")
        self.threshold: float | None = None

    def fit_threshold(self, class_queries: list[str], null_queries: list[str] | None = None) -> float:
        """Choose the "no good match" cut that separates class queries' best scores from off-topic ones'."""
        from skytext.eval.query import choose_threshold

        null = null_queries if null_queries is not None else read_lines(NULL_FILE)
        pos = self.best_scores(class_queries)
        neg = self.best_scores(null)
        self.threshold = choose_threshold(pos, neg)
        return self.threshold

    def best_scores(self, queries: list[str]) -> np.ndarray:
        """The best calibrated score of each query."""
        z, _, _ = self.calibration.search(self.encode(queries), self.keys, 1, chunk_size=CHUNK, scales=self.scales,
                                          device="cpu")
        return z[:, 0]

    def search_vectors(self, q: np.ndarray, limit: int) -> list[list[Hit]]:
        """Hits of already-encoded queries ``[nq, d]``."""
        z, idx, cos = self.calibration.search(np.asarray(q, np.float32), self.keys, limit, chunk_size=CHUNK,
                                             scales=self.scales, device="cpu")
        return [[Hit(int(i), self.ids[int(i)], float(s), float(c)) for s, c, i in zip(zr, cr, ir)]
                for zr, cr, ir in zip(z, cos, idx)]

    def search(self, query: str, limit: int) -> list[Hit]:
        """Hits of one text query, best first."""
        return self.search_vectors(self.encode([query]), limit)[0]


def minilm(model: str):
    """The sentence-transformers model of the spectra study's text side, loaded once per process (offline)."""
    if model not in _MINILM:
        from skytext.align import text_encoder

        _MINILM[model] = text_encoder.load(model, device="cpu")
    return _MINILM[model]


@lru_cache(maxsize=512)
def _encode_one(model: str, text: str) -> np.ndarray:
    """One text's sentence embedding, cached: a query is encoded once for every study that uses the encoder."""
    from skytext.align import text_encoder

    return text_encoder.encode(minilm(model), [text], 64)[0]


def minilm_encoder(model: str) -> Callable[[list[str]], np.ndarray]:
    """A function texts -> L2-normalised float32 sentence embeddings (the spectra study's encoder)."""
    from skytext.align import text_encoder

    def encode(texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return _encode_one(model, texts[0])[None, :]
        return text_encoder.encode(minilm(model), list(texts), 64)

    return encode


def disk_cached(encode: Callable[[list[str]], np.ndarray], cache: Path, encoder_id: str):
    """``encode`` with its batch calls (background phrases, class and off-topic queries: the same at every
    start) cached as ``.npy`` in ``cache``, keyed by the encoder's id and the texts; single queries pass."""

    def cached(texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if len(texts) < 2:
            return encode(texts)
        key = hashlib.sha256("\x1e".join([encoder_id, *texts]).encode()).hexdigest()[:24]
        path = Path(cache) / f"enc-{key}.npy"
        if path.is_file():
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                pass
        out = np.asarray(encode(texts), np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, out)
        os.replace(tmp, path)
        return out

    return cached


def file_id(path: Path) -> str:
    """An id of a file's version: its path, size and modification time."""
    st = Path(path).stat()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"


def neighbours(matrix: np.ndarray, row: int, limit: int, ids: Sequence[str], query: np.ndarray | None = None):
    """``[(id, cosine)]`` of the rows nearest to ``query`` (default: row ``row`` itself, left out)."""
    from skytext.eval.search import topk

    q = np.asarray(matrix[row] if query is None else query, np.float32)[None, :]
    s, i = topk(q, matrix, limit + 1, chunk_size=CHUNK, device="cpu")
    return [(str(ids[int(j)]), float(v)) for v, j in zip(s[0], i[0]) if query is not None or int(j) != row][:limit]
