"""Map data for the interactive UMAPs: coordinates the studies already computed (the analysis study's
``<set>/umap.parquet``), else a UMAP computed once with the analysis study's settings and cached outside the
results folder; plus the columns a map can be coloured by and each point's object page."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.serve.pages.base import Space, StudyPage

log = logging.getLogger(__name__)
UMAP_SETTINGS = {"n_neighbors": 15, "min_dist": 0.0, "metric": "cosine", "max_objects": 20000, "low_memory": True}
MAX_CATEGORIES = 40
_LOCK = threading.Lock()


def analysis_umap(results: Path, study: str, space: str) -> pd.DataFrame | None:
    """``id, umap_1, umap_2`` of the analysis set ``<study>-<space>`` when the analysis study computed it."""
    base = Path(results) / "analysis"
    if not base.is_dir():
        return None
    for src in sorted(base.iterdir()):
        p = src / f"{study}-{space}" / "umap.parquet"
        if p.is_file():
            try:
                df = pd.read_parquet(p)
            except Exception:  # noqa: BLE001 - an unreadable file: compute instead
                return None
            if {"id", "umap_1", "umap_2"} <= set(df.columns) and df["umap_1"].notna().any():
                return df.dropna(subset=["umap_1", "umap_2"])
    return None


def _cache_key(space: Space) -> str:
    m = space.vectors.matrix
    fn = getattr(m, "filename", None) or ""
    stamp = f"{fn}:{m.shape}:{Path(fn).stat().st_mtime if fn and Path(fn).exists() else ''}:{UMAP_SETTINGS}"
    return hashlib.sha256(stamp.encode()).hexdigest()[:16]


def computed_umap(space: Space, cache: Path, seed: int) -> pd.DataFrame | None:
    """A UMAP of the space's vectors (:func:`skytext.analysis.umaps.fit_umap`), cached as Parquet in ``cache``."""
    if space.vectors is None:
        return None
    path = Path(cache) / f"umap-{_cache_key(space)}.parquet"
    with _LOCK:
        if path.is_file():
            return pd.read_parquet(path)
        from skytext.analysis.umaps import fit_umap

        ids = space.vectors.ids[space.id_column].astype(str).to_numpy()
        coords, notes = fit_umap(np.asarray(space.vectors.matrix, np.float32), ids, UMAP_SETTINGS, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        coords.to_parquet(tmp, index=False)
        tmp.replace(path)
        for n in notes:
            log.info("%s: %s", space.name, n)
        return coords


def _colour_columns(cat: pd.DataFrame, ids: list[str], class_column: str | None) -> dict:
    """``{name: {"kind": "category"|"number", "values": [...]}}``, the class column first."""
    out: dict[str, dict] = {}
    sub = cat.reindex(ids)
    cols = [c for c in sub.columns if c not in ("url", "title")]
    if class_column in cols:
        cols.remove(class_column)
        cols.insert(0, class_column)
    for c in cols:
        s = sub[c]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            vals = s.astype("string").fillna("(none)")
            if vals.nunique() <= MAX_CATEGORIES:
                out[c] = {"kind": "category", "values": vals.tolist()}
        else:
            v = pd.to_numeric(s, errors="coerce").astype(float)
            if v.notna().sum() > 1:
                out[c] = {"kind": "number", "values": [None if np.isnan(x) else float(x) for x in v]}
    return out


def map_data(page: StudyPage, space: Space, results: Path, cache: Path, seed: int) -> dict:
    """Everything the map page's script needs: points, hover text, object urls, colour columns, notes."""
    coords = space.umap if space.umap is not None else analysis_umap(results, page.name, space.name)
    source = "the analysis study's UMAP"
    if coords is None:
        coords, source = computed_umap(space, cache, seed), "UMAP computed by skytext serve (cached)"
    if coords is None or coords.empty:
        return {"error": f"no coordinates for {page.name}/{space.name}"}
    ids = coords["id"].astype(str).tolist()
    cat = page.catalogue(space.name)
    hover, urls, colours = ids, [page.url(i) for i in ids], {}
    if cat is not None:
        cat = cat[~cat.index.duplicated()]
        known = cat.reindex(ids)
        if "url" in known:
            urls = [u if isinstance(u, str) else None for u in known["url"]]
        klass = known[page.class_column] if page.class_column in known else None
        hover = [f"{i} ({k})" if klass is not None and isinstance(k, str) else i
                 for i, k in zip(ids, klass if klass is not None else ids)]
        colours = _colour_columns(cat, ids, page.class_column)
    return {"study": page.name, "space": space.name, "title": space.title, "source": source, "ids": ids,
            "x": coords["umap_1"].astype(float).round(4).tolist(),
            "y": coords["umap_2"].astype(float).round(4).tolist(),
            "hover": hover, "urls": urls, "colours": colours}
