"""A calibrated text-to-vector index shared by the study pages: the engine's :class:`Calibration` (scores as
z-scores against background phrases), exact top-k (:func:`skytext.eval.search.topk` with per-key scales; an
index of :data:`SCREEN_MIN_KEYS` keys or more through the engine's certified 8-bit screen,
:class:`skytext.eval.search.ScreenedKeys`) and the "no good match" threshold of
:func:`skytext.eval.query.choose_threshold`. Nothing is re-implemented here."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
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
SCREEN_MIN_KEYS = 20_000  # a text search over this many keys or more screens 8-bit codes first (ScreenedKeys)
SCREEN_CANDIDATES = 256  # rows of the first screen's exact stage
QUERY_TOLERANCE = 1e-6  # a traced query encoder must match the model this closely (text_encoder.QueryEncoder)
_MINILM: dict[str, object] = {}
_QUERY: dict[str, object] = {}
log = logging.getLogger(__name__)


def search_matrix(keys):
    """The keys as :class:`skytext.search.CheckedKeys` (float32, checked finite once, searched by the engine's
    top-k without its per-query pass over every key) when
    they fit :data:`IN_RAM_BYTES` as float32 (a float32 memory map stays a map; float16 is converted once),
    else the memory map itself (searched by :func:`skytext.eval.search.topk`, a block at a time)."""
    from skytext.search import CheckedKeys

    if isinstance(keys, CheckedKeys) or keys.shape[0] * keys.shape[1] * 4 > IN_RAM_BYTES:
        return keys
    return CheckedKeys(keys)


def screened(keys, weights=None):
    """``keys`` (searched with ``weights``) as :class:`skytext.eval.search.ScreenedKeys` when there are at least
    :data:`SCREEN_MIN_KEYS` of them: the engine's exact top-k, certified, at about a quarter of the cost of a
    full float32 scan for one query, for ``n * d`` bytes more RAM. Smaller indices (or a failed build: logged)
    stay as they are."""
    from skytext.eval.search import ScreenedKeys

    if isinstance(keys, ScreenedKeys) or len(keys) < SCREEN_MIN_KEYS:
        return keys
    try:
        return ScreenedKeys(np.asarray(keys), weights, candidates=SCREEN_CANDIDATES)
    except (ImportError, ValueError) as exc:
        log.warning("search keeps the full exact scan (%s: %s)", type(exc).__name__, exc)
        return keys


def engine_topk(queries, keys, k: int, key_weights=None) -> tuple[np.ndarray, np.ndarray]:
    """The engine's exact top-k (:func:`skytext.eval.search.topk`) on the CPU with the app's chunk size; held
    keys (checked once, or screened) are searched as the engine searches them."""
    from skytext.eval.search import topk

    return topk(queries, keys, k, chunk_size=CHUNK, device="cpu", key_weights=key_weights)


def calibrated_search(calibration, queries: np.ndarray, keys, k: int, scales: np.ndarray):
    """``(scores, indices, cosines)``: :meth:`skytext.eval.query.Calibration.search` on the CPU with the app's
    chunk size and the scales given."""
    return calibration.search(queries, keys, k, chunk_size=CHUNK, device="cpu", scales=scales)


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
        self.scales = self.calibration.key_scales(np.asarray(self.keys), chunk_size=CHUNK, device="cpu")
        self.keys = screened(self.keys, self.scales)  # (it keeps these scales: searched without comparing them)
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
        z, _, _ = calibrated_search(self.calibration, self.encode(queries), self.keys, 1, self.scales)
        return z[:, 0]

    def search_vectors(self, q: np.ndarray, limit: int) -> list[list[Hit]]:
        """Hits of already-encoded queries ``[nq, d]``."""
        z, idx, cos = calibrated_search(self.calibration, np.asarray(q, np.float32), self.keys, limit, self.scales)
        return [[Hit(int(i), self.ids[int(i)], float(s), float(c)) for s, c, i in zip(zr, cr, ir)]
                for zr, cr, ir in zip(z, cos, idx)]

    def search(self, query: str, limit: int) -> list[Hit]:
        """Hits of one text query, best first."""
        return self.search_vectors(self.encode([query]), limit)[0]


def minilm(model: str):
    """The sentence-transformers model of the spectra study's text side, loaded once per process (offline)."""
    with _LOAD_LOCK:  # studies warmed side by side load it once
        if model not in _MINILM:
            from skytext.align import text_encoder

            _MINILM[model] = text_encoder.load(model, device="cpu")
        return _MINILM[model]


def query_encoder(model: str):
    """The model's one-query encoder (:class:`skytext.align.text_encoder.QueryEncoder`), built once per process."""
    st = minilm(model)
    with _LOAD_LOCK:
        if model not in _QUERY:
            from skytext.align import text_encoder

            _QUERY[model] = enc = text_encoder.QueryEncoder(st, QUERY_TOLERANCE)
            if enc.reason:
                log.warning("text encoder %s: queries run eagerly: %s", model, enc.reason)
        return _QUERY[model]


_ENCODE_LOCK, _LOAD_LOCK = threading.Lock(), threading.Lock()


def _encode_one(model: str, text: str) -> np.ndarray:
    """One text's sentence embedding, cached: a query is encoded once for every study that uses the encoder
    (studies searched side by side wait for the first one's encoding instead of encoding it again)."""
    with _ENCODE_LOCK:
        return _encode_cached(model, text)


@lru_cache(maxsize=512)
def _encode_cached(model: str, text: str) -> np.ndarray:
    out = query_encoder(model)(text)
    out.setflags(write=False)  # shared by every caller
    return out


def minilm_encoder(model: str) -> Callable[[list[str]], np.ndarray]:
    """A function texts -> L2-normalised float32 sentence embeddings (the spectra study's encoder). The model
    and its one-query encoder load now (a page's warm-up), not at the first query."""
    from skytext.align import text_encoder

    query_encoder(model)

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
    q = np.asarray(matrix[row] if query is None else query, np.float32)[None, :]
    s, i = engine_topk(q, matrix, limit + 1)
    return [(str(ids[int(j)]), float(v)) for v, j in zip(s[0], i[0]) if query is not None or int(j) != row][:limit]
