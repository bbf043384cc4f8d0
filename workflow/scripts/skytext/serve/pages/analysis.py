"""The analysis study: a map per embedding set it analysed (its own UMAP coordinates), coloured by the set's
catalogue, and its probe, pair, correlation and search tables. Points of a set written by another study link
to that study's object pages by name (``/object/<study>/<id>``); nothing of that study is imported."""

from __future__ import annotations

import pandas as pd

from skytext.serve.pages import REGISTRY
from skytext.serve.pages.base import Space, StudyPage, Table


class AnalysisPage(StudyPage):
    """What any embeddings know: maps and the probe/pair/correlation tables."""

    name = "analysis"
    title = "Analysis (embedding sets)"
    searchable = False

    def __init__(self, files, cache):
        super().__init__(files, cache)
        self._spaces: list[Space] = []
        self._objects: dict[str, pd.DataFrame] = {}
        root = files.root
        for d in sorted(p for p in root.iterdir() if p.is_dir()) if root is not None else []:
            if not (d / "umap.parquet").is_file():
                continue
            umap = files.table(f"{d.name}/umap.parquet")
            if umap is None or umap["umap_1"].isna().all():
                continue
            objects = files.table(f"{d.name}/objects.parquet", quiet=True)
            if objects is not None:
                self._objects[d.name] = objects
            vec = files.vectors(f"{d.name}/embeddings.npy", quiet=True, ids=f"{d.name}/objects.parquet")
            self._spaces.append(Space(d.name, f"set {d.name}", vec, "id", umap.dropna(subset=["umap_1"])))

    def owner(self, space: str) -> str | None:
        """The study whose object pages a set's points link to (by the set's name prefix), if any."""
        head = space.split("-", 1)[0]
        return head if head in REGISTRY and head != self.name else None

    def spaces(self) -> list[Space]:
        """The study's embedding spaces shown as maps."""
        return self._spaces

    def catalogue(self, space: str) -> pd.DataFrame | None:
        """Per-object properties of a space for colouring its map, indexed by id (with each object's url)."""
        obj = self._objects.get(space)
        if obj is None:
            sp = {s.name: s for s in self._spaces}.get(space)
            if sp is None:
                return None
            obj = sp.umap[["id"]]
        idc = "id" if "id" in obj else obj.columns[0]
        df = obj.set_index(obj[idc].astype(str)).drop(columns=[idc])
        owner = self.owner(space)
        df["url"] = [f"/object/{owner}/{i}" if owner else None for i in df.index]
        return df

    def url(self, oid: str) -> str:
        """No object pages of its own: points link to their study's pages through the catalogue."""
        return "#"

    def tables(self) -> list[Table]:
        """The study's comparison tables, as in the report."""
        out = []
        for rel, title in (("probes.csv", "Probes (kNN / linear / MLP)"),
                           ("pairs.csv", "Pairs of sets (CKA, mutual kNN)"),
                           ("correlations.csv", "Correlations"), ("search.csv", "Similarity search by class")):
            t = self.files.table(rel, quiet=True)
            if t is not None:
                out.append(Table(title, list(t.columns), t.values.tolist()[:500], rel))
        return out
