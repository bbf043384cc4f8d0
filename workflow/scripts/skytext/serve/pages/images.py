"""The images study (PAPERCLIP): search through the fine-tuned CLIP text tower with the prompt templates,
calibration and threshold of :mod:`skytext.eval.query`; image pages with the proposal's texts; the image and
text spaces; the retrieval comparison with the worst-retrieved images."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.serve.pages.base import Rows, Space, StudyPage, Table, resolve_data_path
from skytext.serve.store import id_lookup
from skytext.serve.textsearch import CHUNK, Group, Hit, TextIndex, disk_cached, file_id, neighbours, screened


SUMMARY_SKIP = {"proposal_id", "text_id", "backend", "model", "prompt_version", "split"}  # bookkeeping columns


class ImagesPage(StudyPage):
    """Hubble (or demo) images and proposal abstracts."""

    name = "images"
    title = "Images (PAPERCLIP)"
    class_column = "gt_class"

    def __init__(self, files, cache):
        super().__init__(files, cache)
        self.obs = files.table("dataset/observations.parquet")
        props = files.table("dataset/proposals.parquet")
        self.props = props.set_index(props["proposal_id"].astype(str)) if props is not None else None
        self.obs_rows, self.prop_rows = Rows(self.obs, "obs_id"), Rows(props, "proposal_id")
        self._first_obs = {} if self.obs is None else dict(zip(self.obs["proposal_id"].astype(str)[::-1],
                                                                 self.obs["obs_id"].astype(str)[::-1]))
        self.model = self._choose_model()
        split = self._split()
        base = f"embed/{self.model}/{split}" if self.model else None
        self.images = files.vectors(f"{base}/images.npy") if base else None
        self.texts = files.vectors(f"{base}/texts_abstract.npy", quiet=True) if base else None
        self.image_pos = id_lookup(self.images.ids["obs_id"]) if self.images is not None else {}
        self.index: TextIndex | None = None
        self.searcher = None
        summaries = files.table("llm/summaries.parquet", quiet=True)
        self.summaries = Rows.optional(summaries, "proposal_id")

    def _choose_model(self) -> str | None:
        """The fine-tuned model to search with: ``full-abstract`` when present, else the first non-control."""
        embed = self.files.path("embed")
        if embed is None or not embed.is_dir():
            self.files.note("no image embeddings (embed/) yet")
            return None
        names = sorted(p.name for p in embed.iterdir() if p.is_dir())
        for pick in ["full-abstract"] + [n for n in names if not n.startswith("shuffled")] + names:
            if pick in names:
                return pick
        return None

    def _split(self) -> str:
        ret = self.files.json("eval/retrieval.json", quiet=True) or {}
        return str(ret.get("split", "test"))

    # ------------------------------------------------------------------ search
    def load_search(self) -> None:
        """Load the text side, the index and the threshold of the study's search: the engine's
        :class:`skytext.search.Searcher` (queries routed through the training captions, the search_eval
        rule's threshold), else the calibrated score of :class:`skytext.eval.query.Calibration`."""
        if self.images is None:
            return
        index = self.files.path(f"embed/{self.model}/{self._split()}")
        try:
            from skytext.search import Searcher

            self.searcher = Searcher.open(index, device="cpu", chunk_size=CHUNK, n_anchors=None,
                                          model_json=self._spec(index / "model.json"))
            self.searcher.keys = screened(self.images.search_keys())
            return
        except (ImportError, TypeError, ValueError, KeyError, OSError) as exc:
            self.files.note(f"engine search unavailable ({type(exc).__name__}: {str(exc)[:100]}): "
                            "calibrated score instead")
            self.searcher = None
        self._load_calibrated()

    def _load_calibrated(self) -> None:
        from skytext.core.vocab import read_lines
        from skytext.eval.query import BACKGROUND_FILE, TEMPLATES_FILE, encode_queries, load_model, read_templates

        if self.images is None:
            return
        spec = self._spec(self.files.path(f"embed/{self.model}/{self._split()}/model.json"))
        model, tokenizer, _ = load_model(spec, device="cpu")
        templates = read_templates(TEMPLATES_FILE)
        encode = disk_cached(lambda qs: encode_queries(model, tokenizer, list(qs), templates, device="cpu"),
                             self.cache, file_id(spec) + json.dumps(templates) + _weights_id(spec))
        self.index = TextIndex(self.images.search_keys(), self.images.ids["obs_id"], encode, read_lines(BACKGROUND_FILE))
        cal = self.files.json(f"eval/search/{self.model}.json", quiet=True)
        if cal is not None and "threshold" in cal:  # search_eval's cut on this same calibrated score
            self.index.threshold = float(cal["threshold"])
        else:  # the same rule (choose_threshold: class vs off-topic queries) on the served index
            self.index.fit_threshold(_class_queries())

    def _spec(self, spec: Path) -> Path:
        """``model.json`` with its relative paths (relative to the workflow folder) made absolute: a copy in
        the cache when the app runs from another folder."""
        d = json.loads(spec.read_text())
        fixed = dict(d)
        for key in ("weights", "config_file", "pretrained"):
            v = d.get(key)
            if isinstance(v, str) and not Path(v).is_absolute() and not Path(v).exists():
                found = resolve_data_path(self.files.root, v)
                if found is not None:
                    fixed[key] = str(found)
        if fixed == d:
            return spec
        out = self.cache / f"model-{hashlib.sha256(json.dumps(fixed).encode()).hexdigest()[:16]}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(fixed, indent=2))
        return out

    def search(self, query: str, limit: int) -> Group | None:
        """The study's hits for a text query with calibrated scores and its threshold (``None``: no search)."""
        if self.searcher is not None:
            df = self.searcher.search([query], limit)[0]
            hits = [Hit(i, str(o), float(sc), float(sc)) for i, (o, sc) in enumerate(zip(df["obs_id"], df["score"]))]
            note = f"model {self.model}, cosine scores; {df.attrs.get('verdict', '')}"
            return Group(self.name, hits, df.attrs.get("threshold"), note, match_score=df.attrs.get("match_score"))
        if self.index is None:
            return None
        return Group(self.name, self.index.search(query, limit), self.index.threshold,
                     f"model {self.model}, calibrated score (z against background phrases)")

    def hit_info(self, oid: str) -> dict:
        """Title, true class and thumbnail url of a hit."""
        row = self._obs(oid)
        if row is None:
            return {"title": oid}
        title = self._proposal(row["proposal_id"]).get("title", "")
        return {"title": title, "class": row.get("gt_class"), "thumb": f"/media/images/image/{oid}"}

    # ------------------------------------------------------------------ objects
    def _obs(self, oid: str) -> dict | None:
        return self.obs_rows.get(oid)

    def _proposal(self, pid) -> dict:
        return self.prop_rows.get(pid) or {}

    def _summary(self, pid) -> str | None:
        r = self.summaries.get(pid)
        if r is None:
            return None
        parts = [f"{k}: {', '.join(map(str, v)) if isinstance(v, (list, np.ndarray)) else v}"
                 for k, v in r.items() if k not in SUMMARY_SKIP and v is not None]
        return "; ".join(parts)

    def object(self, oid: str) -> dict | None:
        """The context of the object page of ``oid`` (``None`` for an unknown id)."""
        row = self._obs(oid)
        if row is None:
            return None
        prop = self._proposal(row["proposal_id"])
        ctx = {"obs": row, "proposal": prop, "summary": self._summary(row["proposal_id"]),
               "image_url": f"/media/images/image/{oid}", "similar": [], "texts": []}
        if self.images is not None:
            pos = self.image_pos.get(str(oid))
            if pos is None:
                ctx["missing"] = f"{oid} is not in the {self.images.name} index: no neighbours"
            else:
                ctx["similar"] = [self._link(i, s) for i, s in
                                  neighbours(self.images.search_keys(), pos, 8, self.images.ids["obs_id"])]
                if self.texts is not None:
                    pids = self.texts.ids["proposal_id"].astype(str)
                    q = np.asarray(self.images.matrix[pos], np.float32)
                    ctx["texts"] = [{"proposal_id": p, "score": s, "title": self._proposal(p).get("title", ""),
                                     "url": self._proposal_url(p)}
                                    for p, s in neighbours(self.texts.search_keys(), 0, 5, pids, query=q)]
        return ctx

    def _link(self, oid: str, score: float) -> dict:
        return {"id": oid, "score": score, "url": self.url(oid), **self.hit_info(oid)}

    def _proposal_url(self, pid: str) -> str | None:
        oid = self._first_obs.get(str(pid))
        return self.url(oid) if oid else None

    def media(self, kind: str, oid: str) -> bytes | None:
        """PNG bytes of the object's picture, looked up by id only (``None`` when unknown)."""
        row = self._obs(oid)
        if kind != "image" or row is None:
            return None
        p = resolve_data_path(self.files.root, str(row.get("path") or ""))
        if p is None or p.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            return None
        return p.read_bytes()

    # ------------------------------------------------------------------ maps, tables
    def spaces(self) -> list[Space]:
        """The study's embedding spaces shown as maps."""
        out = [Space("image", f"CLIP image space ({self.model})", self.images, "obs_id")]
        if self.texts is not None:
            out.append(Space("text", f"CLIP text space ({self.model}, abstracts)", self.texts, "proposal_id"))
        return out if self.images is not None else []

    def catalogue(self, space: str) -> pd.DataFrame | None:
        """Per-object properties of a space for colouring its map, indexed by id (with each object's url)."""
        if space == "text" and self.props is not None:
            cols = [c for c in ("gt_class", "category", "cycle", "split", "title") if c in self.props]
            df = self.props[cols].copy()
            df["url"] = [self._proposal_url(p) for p in df.index]
            return df
        if self.obs is None:
            return None
        cols = [c for c in ("gt_class", "instrument", "filter", "cycle", "split", "target") if c in self.obs]
        df = self.obs.set_index(self.obs["obs_id"].astype(str))[cols].copy()
        df["url"] = [self.url(i) for i in df.index]
        return df

    def tables(self) -> list[Table]:
        """The study's comparison tables, as in the report."""
        out = []
        comp = self.files.table("eval/comparison.csv", quiet=True)
        if comp is not None:
            out.append(Table("Retrieval comparison", list(comp.columns), comp.values.tolist(),
                             "eval/comparison.csv: the report's numbers", self._worst()))
        for p in sorted((self.files.path("eval/search") or self.files.root).glob("*.csv")) if self.ran else []:
            t = pd.read_csv(p)
            out.append(Table(f"Search quality ({p.stem})", list(t.columns), t.values.tolist(), f"eval/search/{p.name}"))
        return out

    def _worst(self) -> list[tuple[str, str, str]]:
        """The ten images whose own proposal's abstract ranks worst among the texts (image -> text)."""
        from skytext.eval.search import ranks_of_targets

        if self.images is None or self.texts is None:
            return []
        tpos = id_lookup(self.texts.ids["proposal_id"])
        pids = self.images.ids["proposal_id"].astype(str)
        keep = np.array([p in tpos for p in pids])
        if not keep.any():
            return []
        rows = np.flatnonzero(keep)
        ranks = ranks_of_targets(np.asarray(self.images.matrix[rows], np.float32), self.texts.matrix,
                                 np.array([tpos[p] for p in pids[rows]]), chunk_size=CHUNK, device="cpu")
        worst = rows[np.argsort(-ranks, kind="stable")[:10]]
        rank_of = dict(zip(rows, ranks))
        return [(str(self.images.ids["obs_id"].iloc[i]), self.url(self.images.ids["obs_id"].iloc[i]),
                 f"own abstract ranked {int(rank_of[i])} of {len(self.texts)}") for i in worst]


def _weights_id(spec: Path) -> str:
    """The version of the weights a ``model.json`` points at ("" when none or not found)."""
    w = json.loads(Path(spec).read_text()).get("weights")
    return file_id(Path(w)) if w and Path(w).is_file() else ""


def _class_queries() -> list[str]:
    """The search evaluation's class queries (``<class>: <query>`` lines), else the demo class phrases."""
    from skytext.core.vocab import read_lines
    from skytext.serve.textsearch import CLASS_QUERIES_FILE

    if CLASS_QUERIES_FILE.is_file():
        return [line.partition(":")[2].strip() for line in read_lines(CLASS_QUERIES_FILE) if ":" in line]
    return ["spiral galaxies", "elliptical galaxies", "globular clusters", "strong gravitational lensing arcs",
            "emission nebulae"]
