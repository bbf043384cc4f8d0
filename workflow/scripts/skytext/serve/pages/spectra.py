"""The spectra study: text search into the shared spectrum-text space (the spectra study's sentence encoder,
then its aligned text head), spectrum pages with the autoencoder's reconstruction, cross-modal neighbours,
the shared/spectral/text spaces and the regression, retrieval and outlier tables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.serve.pages.base import Rows, Space, StudyPage, Table, figure_png
from skytext.serve.store import Vectors, id_lookup
from skytext.serve.textsearch import Group, TextIndex, disk_cached, minilm_encoder, neighbours

RESPONSE = Path(__file__).resolve().parents[5] / "resources" / "spectra" / "response.yaml"
CLASS_PHRASES = {"agn": "active galactic nucleus", "xrb_hard": "hard state X-ray binary",
                 "xrb_soft": "soft state X-ray binary", "cv": "cataclysmic variable",
                 "ulx": "ultraluminous X-ray source",
                 "snr": "supernova remnant", "cluster": "galaxy cluster", "star": "coronal emission from a star",
                 "pulsar": "rotation-powered pulsar"}


def text_head(text_in: np.ndarray, text_out: np.ndarray, ridge: float = 1e-2) -> np.ndarray:
    """A linear map ``[d_in + 1, d_out]`` (with bias) fitted by ridge regression to the aligned text head's
    outputs on its own inputs: the stand-in for the head while the study writes only its outputs."""
    x = np.c_[np.asarray(text_in, np.float64), np.ones(len(text_in))]
    a = x.T @ x + ridge * np.eye(x.shape[1])
    return np.linalg.solve(a, x.T @ np.asarray(text_out, np.float64)).astype(np.float32)


def apply_head(w: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """Sentence embeddings mapped into the shared space, L2-normalised."""
    y = np.c_[emb, np.ones(len(emb), np.float32)] @ w
    return (y / np.linalg.norm(y, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


HEAD_KEYS = ("w0", "b0", "w1", "b1")  # ensemble.npz: text_head{k}_w0 [hidden, d_in], _b0, _w1 [dim, hidden], _b1


def trained_heads(arrays) -> list[tuple[np.ndarray, ...]] | None:
    """The aligned text heads saved in ``ensemble.npz`` (``text_head{k}_w0``, ``_b0``, ``_w1``, ``_b1`` for
    members k = 0, 1, ...) as ``[(w0, b0, w1, b1)]`` float32, or ``None`` when the file holds none. A member
    with a missing array or mismatched shapes raises ``ValueError`` (a half-written head is not used)."""
    names = set(getattr(arrays, "files", arrays))
    heads, k = [], 0
    while any(f"text_head{k}_{n}" in names for n in HEAD_KEYS):
        missing = [n for n in HEAD_KEYS if f"text_head{k}_{n}" not in names]
        if missing:
            raise ValueError(f"text head {k} lacks {', '.join(missing)}")
        w0, b0, w1, b1 = (np.asarray(arrays[f"text_head{k}_{n}"], np.float32) for n in HEAD_KEYS)
        if w0.ndim != 2 or w1.ndim != 2 or b0.shape != (w0.shape[0],) or w1.shape[1] != w0.shape[0] \
                or b1.shape != (w1.shape[0],):
            raise ValueError(f"text head {k} has mismatched shapes {w0.shape} {b0.shape} {w1.shape} {b1.shape}")
        heads.append((w0, b0, w1, b1))
        k += 1
    if heads and len({(h[0].shape[1], h[2].shape[0]) for h in heads}) != 1:
        raise ValueError("the text heads differ in input or output width")
    return heads or None


class SpectraPage(StudyPage):
    """X-ray sources: spectra, papers, the shared space."""

    name = "spectra"
    title = "Spectra (X-ray spectra and papers)"
    class_column = "class"

    def __init__(self, files, cache):
        super().__init__(files, cache)
        src = files.table("dataset/sources.parquet")
        self.sources = src.set_index(src["source_id"].astype(str)) if src is not None else None
        self.rows = Rows(src, "source_id")
        self.src_row = self.rows.pos
        self.shared = files.vectors("embed/shared.npy")
        self.spectral = files.vectors("embed/spectral.npy", quiet=True)
        self.text = files.vectors("embed/text.npy")
        papers = files.table("dataset/papers.parquet")
        links = files.table("dataset/links.parquet")
        self.papers = Rows(papers, "text_id")
        self.paper_ids: dict[str, list[str]] = {}
        if links is not None:
            for t, sid in zip(links["text_id"].astype(str), links["source_id"].astype(str)):
                self.paper_ids.setdefault(sid, []).append(t)
        self.shared_pos = id_lookup(self.shared.ids["source_id"]) if self.shared is not None else {}
        outl = files.table("eval/outliers.csv", quiet=True)
        self.outliers = Rows.optional(outl, "source_id")
        pred = files.table("eval/regression_predictions.parquet", quiet=True)
        self.predictions = Rows.optional(pred, "source_id")
        self._ae = None
        self.text_tower: Vectors | None = None
        self.index: TextIndex | None = None
        self.head_kind: str | None = None  # "trained" (ensemble.npz's text heads) or "ridge" (the stand-in)
        self._counts = None

    # ------------------------------------------------------------------ search
    def load_search(self) -> None:
        """Load the text side, the index and the threshold of the study's search."""
        from skytext.core.config import defaults

        ens = self._ensemble()
        if self.shared is None or self.text is None or ens is None:
            self.files.note("text search is off: the shared space or the text embeddings are missing")
            return
        text_out = np.asarray(ens["text"], np.float32)
        self.text_tower = Vectors(text_out, self.text.ids, "models/align/ensemble.npz[text]")
        name = defaults("spectra.text_encoder")["model"]
        encode = disk_cached(minilm_encoder(name), self.cache, name)
        probe = encode(["x-ray"])
        if probe.shape[1] != self.text.matrix.shape[1]:
            self.files.note("text search is off: the study's texts were embedded by another encoder")
            return
        heads = ens.get("heads")
        if heads is not None and (heads[0][0].shape[1] != probe.shape[1]
                                  or len(heads) * heads[0][2].shape[0] != self.shared.matrix.shape[1]):
            self.files.note("the text heads in models/align/ensemble.npz do not fit the encoder and the shared "
                            "space: ridge stand-in instead")
            heads = None
        if heads is not None:
            from skytext.spectra.align import text_heads, tower

            modules = text_heads(heads)
            self.head, self.head_kind = heads, "trained"
            self.index = TextIndex(self.shared.search_keys(), self.shared.ids["source_id"],
                                   lambda qs: tower(modules, encode(qs)))
        else:
            w = text_head(np.asarray(self.text.matrix, np.float32), text_out)
            self.head, self.head_kind = w, "ridge"
            self.index = TextIndex(self.shared.search_keys(), self.shared.ids["source_id"],
                                   lambda qs: apply_head(w, encode(qs)))
        classes = sorted(self.sources["class"].dropna().astype(str).unique()) if self.sources is not None else []
        if classes:
            self.index.fit_threshold([CLASS_PHRASES.get(c, c.replace("_", " ")) for c in classes])

    def _ensemble(self):
        p = self.files.path("models/align/ensemble.npz")
        if p is None or not p.exists():
            self.files.note("models/align/ensemble.npz is missing")
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                out = {"text": z["text"], "heads": None}  # (the spectrum tower's copy, "spec", is not needed)
                try:
                    out["heads"] = trained_heads(z)
                except Exception as exc:  # noqa: BLE001 - unusable head weights: the ridge stand-in
                    self.files.note(f"the text heads in models/align/ensemble.npz are unusable ({str(exc)[:120]}): "
                                    "ridge stand-in instead")
        except Exception as exc:  # noqa: BLE001
            self.files.note(f"models/align/ensemble.npz could not be read ({type(exc).__name__})")
            return None
        return out

    def search(self, query: str, limit: int) -> Group | None:
        """The study's hits for a text query with calibrated scores and its threshold (``None``: no search)."""
        if self.index is None:
            return None
        return Group(self.name, self.index.search(query, limit), self.index.threshold, self.search_note())

    def search_note(self) -> str:
        """How a query reaches the shared space: the study's trained text heads, or the ridge stand-in."""
        if self.head_kind == "trained":
            return ("sentence encoder + the study's trained text heads (models/align/ensemble.npz) into the shared "
                    "space; calibrated score")
        return ("sentence encoder + aligned text head into the shared space (a ridge stand-in fitted on the head's "
                "saved outputs: ensemble.npz holds no head weights); calibrated score")

    def hit_info(self, oid: str) -> dict:
        """Title, true class and thumbnail url of a hit."""
        row = self._source(oid)
        if row is None:
            return {"title": oid}
        papers = self._papers_of(oid)
        return {"title": papers[0].get("title") if papers else "(no paper)", "class": row.get("class"),
                "thumb": f"/media/spectra/spectrum/{oid}"}

    # ------------------------------------------------------------------ objects
    def _source(self, oid: str) -> dict | None:
        return self.rows.get(oid)

    def _papers_of(self, oid: str) -> list[dict]:
        return [p for p in (self.papers.get(t) for t in self.paper_ids.get(str(oid), [])) if p is not None]

    def object(self, oid: str) -> dict | None:
        """The context of the object page of ``oid`` (``None`` for an unknown id)."""
        row = self._source(oid)
        if row is None:
            return None
        skip = {"source_id", "split", "class", "true_class", "outlier_type", "is_outlier", "n_papers"}
        variables = [(k, v) for k, v in row.items() if k not in skip and isinstance(v, (int, float))]
        ctx = {"source": row, "variables": variables, "papers": self._papers_of(oid),
               "spectrum_url": f"/media/spectra/spectrum/{oid}", "similar": [], "texts": [],
               "outlier": self._outlier(oid), "predictions": self._predictions(oid),
               "has_predictions": self.predictions.df is not None}
        if self.shared is not None:
            pos = self.shared_pos.get(str(oid))
            if pos is not None:
                ctx["similar"] = [self._link(i, s) for i, s in
                                  neighbours(self.shared.search_keys(), pos, 8, self.shared.ids["source_id"])]
                if self.text_tower is not None:
                    q = np.asarray(self.shared.matrix[pos], np.float32)
                    ctx["texts"] = [self._link(i, s) | {"papers": self._papers_of(i)[:1]} for i, s in
                                    neighbours(self.text_tower.search_keys(), 0, 5, self.text.ids["source_id"], query=q)]
        return ctx

    def _link(self, oid: str, score: float) -> dict:
        return {"id": oid, "score": score, "url": self.url(oid), **self.hit_info(oid)}

    def _outlier(self, oid: str) -> dict | None:
        if self.outliers.df is None:
            return None
        return self.outliers.get(oid) or {"note": f"not among the {len(self.outliers.df)} top-ranked outliers"}

    def _predictions(self, oid: str) -> dict | None:
        """variable -> the MoE's prediction for a source of eval/regression_predictions.parquet (``<var>_pred``
        columns; None when the source was not scored)."""
        row = self.predictions.get(oid)
        if not row:
            return None
        return {k[: -len("_pred")]: v for k, v in row.items() if k.endswith("_pred")}

    def media(self, kind: str, oid: str) -> bytes | None:
        """PNG bytes of the object's picture, looked up by id only (``None`` when unknown)."""
        if kind != "spectrum" or str(oid) not in self.src_row:
            return None
        counts = self._load_counts()
        if counts is None:
            return None
        row = np.asarray(counts[self.src_row[str(oid)]], np.float32)
        return _spectrum_png(row, self._reconstruct(row), str(oid))

    def _load_counts(self):
        if self._counts is None:
            p = self.files.path("dataset/counts.npy")
            try:
                self._counts = np.load(p, mmap_mode="r", allow_pickle=False)
            except Exception:  # noqa: BLE001
                self.files.note("dataset/counts.npy is missing or unreadable: no spectra")
                return None
        return self._counts

    def _reconstruct(self, counts: np.ndarray) -> np.ndarray | None:
        """Expected counts of the autoencoder (``model.pt`` loaded with weights_only=True), or ``None``."""
        p = self.files.path("models/ae/model.pt")
        if p is None or not p.exists():
            return None
        try:
            import torch

            from skytext.spectra.ae import build_autoencoder

            if self._ae is None:
                ck = torch.load(p, map_location="cpu", weights_only=True)
                self._ae = build_autoencoder(int(ck["n_channels"]), ck["config"])
                self._ae.load_state_dict(ck["state_dict"])
                self._ae.eval()
            with torch.inference_mode():
                log_rate, _ = self._ae(torch.from_numpy(counts[None, :]))
            return torch.exp(log_rate)[0].numpy()
        except Exception:  # noqa: BLE001 - a model of another shape: the page shows the counts alone
            return None

    # ------------------------------------------------------------------ maps, tables
    def spaces(self) -> list[Space]:
        """The study's embedding spaces shown as maps."""
        out = []
        for name, title, v in (("shared", "shared spectrum-text space (spectrum tower)", self.shared),
                               ("spectral", "spectral autoencoder latent", self.spectral),
                               ("text", "paper texts (sentence embeddings)", self.text)):
            if v is not None:
                out.append(Space(name, title, v, "source_id"))
        return out

    def catalogue(self, space: str) -> pd.DataFrame | None:
        """Per-object properties of a space for colouring its map, indexed by id (with each object's url)."""
        if self.sources is None:
            return None
        df = self.sources.drop(columns=["source_id"], errors="ignore").copy()
        df["url"] = [self.url(i) for i in df.index]
        return df

    def tables(self) -> list[Table]:
        """The study's comparison tables, as in the report."""
        out = []
        for rel, title in (("eval/regression.csv", "Regression of physical variables (R²)"),
                           ("eval/outliers.csv", "Top outliers")):
            t = self.files.table(rel, quiet=True)
            if t is not None:
                rows = [[(v, self.url(v)) if c == "source_id" else v for c, v in zip(t.columns, r)] for r in t.values]
                out.append(Table(title, list(t.columns), rows, rel))
        ret = self.files.json("eval/retrieval.json", quiet=True)
        if ret is not None:
            rows = _flatten(ret)
            out.append(Table("Retrieval", ["entry", "value"], rows, "eval/retrieval.json"))
        return out


def _flatten(d, prefix: str = "") -> list[list]:
    rows = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            rows += _flatten(v, key + ".")
        elif isinstance(v, (int, float, str)):
            rows.append([key, v])
    return rows[:200]


@lru_cache(maxsize=8)
def _energies(n: int) -> np.ndarray:
    """Channel centres (keV) of an ``n``-channel spectrum from the response file, read once per ``n``
    (read-only)."""
    import yaml

    try:
        cfg = yaml.safe_load(RESPONSE.read_text())
        edges = np.linspace(cfg["e_min_kev"], cfg["e_max_kev"], n + 1)
        out = 0.5 * (edges[1:] + edges[:-1])
    except (OSError, KeyError, TypeError):
        out = np.arange(n, dtype=float)
    out.setflags(write=False)
    return out


def _spectrum_png(counts: np.ndarray, model: np.ndarray | None, title: str) -> bytes:
    from matplotlib.figure import Figure

    e = _energies(len(counts))
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.step(e, counts, where="mid", color="k", lw=1, label="counts")
    if model is not None:
        ax.plot(e, model, color="tab:red", lw=1.5, label="autoencoder reconstruction")
    ax.set_xlabel("energy (keV)")
    ax.set_ylabel("counts per channel")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.13, right=0.98, bottom=0.15, top=0.91)  # a fixed layout: one draw, not two
    return figure_png(fig, tight=False)
