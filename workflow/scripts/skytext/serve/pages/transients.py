"""The transients study: the triplets searched through their explanations and labels as text (every method's
answer, the LLM explanation and the judge's critique, embedded by the same sentence encoder as the spectra
study's texts), triplet pages with every method's verdict, the CNN embedding space and the comparison table
with its misclassified triplets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.serve.pages.base import Rows, Space, StudyPage, Table, resolve_data_path
from skytext.serve.store import Vectors, id_lookup
from skytext.serve.textsearch import Group, TextIndex, disk_cached, minilm_encoder, neighbours

METHODS = ("cnn", "knn", "features")  # baselines with predictions/<method>/predictions.parquet
CLASS_QUERIES = ["a real transient such as a supernova", "a bogus detection", "a cosmic ray hit",
                 "a variable star", "a subtraction artefact"]


def text_cache_path(cache: Path, docs: list[str]) -> Path:
    """Where the sentence embeddings of these documents are cached (``.npy`` beside ``.parquet``)."""
    h = hashlib.sha256("\x1e".join(docs).encode()).hexdigest()[:20]
    return Path(cache) / f"transients-text-{h}.npy"


class TransientsPage(StudyPage):
    """Real/bogus triplets: the vision LLM, its judge, the refinement and the baselines."""

    name = "transients"
    title = "Transients (real/bogus triplets)"
    class_column = "label"

    def __init__(self, files, cache):
        super().__init__(files, cache)
        t = files.table("dataset/triplets.parquet")
        self.triplets = t
        self.rows = Rows(t, "obs_id")
        self.answers = self._shards("answers.parquet")
        self.verdicts = self._shards("verdicts.parquet", quiet=True)
        self.refined = self._shards("refined.parquet", quiet=True)
        self.preds = {m: files.table(f"{m}/predictions.parquet", quiet=True) for m in METHODS}
        self.by_id = {name: Rows.optional(df, "obs_id") for name, df in
                      (("llm", self.answers), ("judge", self.verdicts), ("refined", self.refined), *self.preds.items())}
        self.cnn = files.vectors("cnn/embeddings.npy", quiet=True)
        self.cnn_pos = id_lookup(self.cnn.ids["obs_id"]) if self.cnn is not None else {}
        self.doc_pos: dict[str, int] = {}
        self.docs: Vectors | None = None
        self.index: TextIndex | None = None
        self._cubes: dict[str, np.ndarray] = {}
        self._prompt_defaults: dict | None = None

    def _shards(self, name: str, quiet: bool = False) -> pd.DataFrame | None:
        root = self.files.path("llm/shards")
        parts = sorted(root.glob(f"*/{name}")) if root is not None and root.is_dir() else []
        frames = [self.files.table(str(p.relative_to(self.files.root)), quiet=True) for p in parts]
        frames = [f for f in frames if f is not None and len(f)]
        if not frames:
            if not quiet:
                self.files.note(f"llm/shards/*/{name} are missing: no LLM answers")
            return None
        return pd.concat(frames, ignore_index=True).drop_duplicates("obs_id", keep="last")

    # ------------------------------------------------------------------ search
    def documents(self) -> pd.DataFrame:
        """obs_id, text: what is searchable for each answered triplet: the LLM's label and explanation, the
        refined answer, the judge's critique and the baselines' labels."""
        ids = self.triplets["obs_id"].astype(str).tolist()
        parts = {i: [] for i in ids}
        fields = (("llm", "LLM", ("class", "explanation")), ("refined", "refined", ("class", "explanation")),
                  ("judge", "judge", ("critique",)), *((m, m, ("class",)) for m in METHODS))
        for key, label, cols in fields:
            for i in ids:
                r = self.by_id[key].get(i)
                first = self.by_id["llm"].get(i) or {}
                if r is None or (key == "refined" and r.get("explanation") == first.get("explanation")):
                    continue  # a refinement that kept the first answer adds nothing
                text = ". ".join(str(r[c]) for c in cols if r.get(c))
                if text:
                    parts[i].append(f"{label}: {text}")
        answered = [i for i in ids if i in self.by_id["llm"] or i in self.by_id["judge"]]
        return pd.DataFrame({"obs_id": answered, "text": [" ".join(parts[i]) for i in answered]})

    def load_search(self) -> None:
        """Load the text side, the index and the threshold of the study's search."""
        from skytext.core.config import defaults

        if self.triplets is None or self.answers is None:
            return
        docs = self.documents()
        if docs.empty:
            self.files.note("no LLM answers to search")
            return
        name = defaults("spectra.text_encoder")["model"]
        encode = disk_cached(minilm_encoder(name), self.cache, name)
        path = text_cache_path(self.cache, docs["text"].tolist())
        if path.is_file():
            mat = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            mat = encode(docs["text"].tolist())
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, mat.astype(np.float32))
            docs[["obs_id"]].to_parquet(path.with_suffix(".parquet"), index=False)
        self.docs = Vectors(mat, docs[["obs_id"]], "explanations")
        self.doc_pos = id_lookup(docs["obs_id"])
        self.index = TextIndex(self.docs.search_keys(), docs["obs_id"], encode)
        self.index.fit_threshold(CLASS_QUERIES)

    def search(self, query: str, limit: int) -> Group | None:
        """The study's hits for a text query with calibrated scores and its threshold (``None``: no search)."""
        if self.index is None:
            return None
        return Group(self.name, self.index.search(query, limit), self.index.threshold,
                     "sentence embeddings of each triplet's labels, LLM explanation and judge critique; "
                     "calibrated score")

    def hit_info(self, oid: str) -> dict:
        """Title, true class and thumbnail url of a hit."""
        t = self._triplet(oid)
        if t is None:
            return {"title": oid}
        ans = self.by_id["llm"].get(oid) or {}
        title = f"LLM: {ans.get('class', '?')}; true: {t.get('label')} ({t.get('subtype', '')})"
        return {"title": title, "class": t.get("subtype") or t.get("label"),
                "thumb": f"/media/transients/triplet/{oid}"}

    # ------------------------------------------------------------------ objects
    def _triplet(self, oid: str) -> dict | None:
        return self.rows.get(oid)

    def object(self, oid: str) -> dict | None:
        """The context of the object page of ``oid`` (``None`` for an unknown id)."""
        t = self._triplet(oid)
        if t is None:
            return None
        get = {name: rows.get(oid) for name, rows in self.by_id.items()}
        verdicts = [{"method": m, **(get[m] or {})} for m in ("llm", "refined", *METHODS)
                    if self.by_id[m].df is not None]
        ctx = {"triplet": t, "verdicts": verdicts, "answer": get["llm"], "judge": get["judge"],
               "refined": get["refined"], "image_url": f"/media/transients/triplet/{oid}", "similar": [],
               "similar_text": []}
        if self.cnn is not None:
            pos = self.cnn_pos.get(str(oid))
            if pos is not None:
                ctx["similar"] = [self._link(i, s)
                                  for i, s in neighbours(self.cnn.search_keys(), pos, 8, self.cnn.ids["obs_id"])]
        if self.docs is not None:
            pos = self.doc_pos.get(str(oid))
            if pos is not None:
                ctx["similar_text"] = [self._link(i, s) for i, s in
                                       neighbours(self.docs.search_keys(), pos, 8, self.docs.ids["obs_id"])]
        return ctx

    def _link(self, oid: str, score: float) -> dict:
        return {"id": oid, "score": score, "url": self.url(oid), **self.hit_info(oid)}

    def media(self, kind: str, oid: str) -> bytes | None:
        """PNG bytes of the object's picture, looked up by id only (``None`` when unknown)."""
        t = self._triplet(oid)
        if kind != "triplet" or t is None:
            return None
        p = resolve_data_path(self.files.root, str(t.get("path") or ""))
        if p is None or p.suffix != ".npy":
            return None
        key = str(p)
        if key not in self._cubes:
            self._cubes[key] = np.load(p, mmap_mode="r", allow_pickle=False)
        from skytext.transients.render import triplet_png

        shown = self._prompt()  # the stretch and marker the LLM saw; enlarged for the page
        cube = np.asarray(self._cubes[key][int(t["row"])], np.float32)
        return triplet_png(cube, stretch=shown.get("stretch", "zscale"), scale=4,
                           marker=bool(shown.get("marker", True)))

    def _prompt(self) -> dict:
        """The schema's ``transients.prompt`` defaults, read once (reading the schema costs ~50 ms)."""
        if self._prompt_defaults is None:
            from skytext.core.config import defaults

            self._prompt_defaults = defaults("transients.prompt")
        return self._prompt_defaults

    # ------------------------------------------------------------------ maps, tables
    def spaces(self) -> list[Space]:
        """The study's embedding spaces shown as maps."""
        return [Space("cnn", "CNN embedding of the triplets", self.cnn, "obs_id")] if self.cnn is not None else []

    def catalogue(self, space: str) -> pd.DataFrame | None:
        """Per-object properties of a space for colouring its map, indexed by id (with each object's url)."""
        if self.triplets is None:
            return None
        df = self.triplets.set_index(self.triplets["obs_id"].astype(str))
        df = df[[c for c in ("label", "subtype", "split") if c in df]].copy()
        if self.answers is not None and "class" in self.answers:
            df["llm"] = df.index.map(dict(zip(self.answers["obs_id"].astype(str), self.answers["class"])))
        df["url"] = [self.url(i) for i in df.index]
        return df

    def tables(self) -> list[Table]:
        """The study's comparison tables, as in the report."""
        comp = self.files.table("eval/comparison.csv", quiet=True)
        if comp is None:
            return []
        return [Table("Classification comparison", list(comp.columns), comp.values.tolist(), "eval/comparison.csv",
                      self._errors())]

    def _errors(self) -> list[tuple[str, str, str]]:
        """Triplets the LLM got wrong (true label vs answer), test split first."""
        if self.answers is None or self.triplets is None:
            return []
        m = self.triplets.astype({"obs_id": str}).merge(self.answers.astype({"obs_id": str})[["obs_id", "class"]],
                                                         on="obs_id")
        wrong = m[m["class"].astype(str) != m["label"].astype(str)]
        return [(r.obs_id, self.url(r.obs_id), f"LLM said {r['class']}, truth {r.label} ({r.get('subtype', '')})")
                for _, r in wrong.head(30).iterrows()]
