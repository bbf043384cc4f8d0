"""The analysis config: schema defaults, the effective set list (sets of studies not enabled skipped and said
so), one-line errors for bad cross-references; UMAP and search on tiny data."""

import numpy as np
import pandas as pd
import pytest

from skytext.analysis.search import pick_queries, similar
from skytext.analysis.sets import input_files, plan
from skytext.analysis.umaps import fit_umap
from skytext.core.config import ConfigError, check, defaults


def test_default_sets_follow_enabled_studies():
    cfg = check({"studies": ["images", "analysis"]})
    p = plan(cfg)
    assert [s["name"] for s in p.sets] == ["images-image", "images-text"]
    assert {s["name"] for s in p.skipped} == {"spectra-spectral", "spectra-text", "spectra-shared"}
    assert all("'spectra' is not enabled" in s["reason"] for s in p.skipped)
    assert set(p.catalogues) == {"images-obs", "images-proposals"}
    image = p.sets[0]
    assert input_files(image, cfg) == ["results/images/demo/embed/full-abstract/test/images.npy",
                                       "results/images/demo/embed/full-abstract/test/images.parquet"]
    assert cfg["analysis"]["probes"]["knn_k"] == 64 and cfg["analysis"]["umap"]["n_neighbors"] == 30


def test_bad_references_are_one_line_errors():
    base = {"name": "x", "format": "table", "path": "x.npy", "catalogue": "nope"}
    with pytest.raises(ConfigError, match="unknown catalogue 'nope'"):
        plan(check({"analysis": {"embeddings": [base]}}))
    with pytest.raises(ConfigError, match="needs `key`"):
        plan(check({"analysis": {"embeddings": [{**base, "format": "aion", "catalogue": "images-obs"}]}}))
    with pytest.raises(ConfigError, match="used twice"):
        plan(check({"analysis": {"embeddings": [{**base, "catalogue": "images-obs"}] * 2}}))
    with pytest.raises(ConfigError, match="unknown key 'analysis.embeddings.0.pth'"):
        check({"analysis": {"embeddings": [{**base, "pth": 1}]}})


@pytest.mark.e2e  # numba compiles UMAP on first use in each process: seconds, so not a unit test
def test_umap_is_seeded_and_subsampled():
    X = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    ids = np.array([f"o{i}" for i in range(60)], dtype=object)
    cfg = {**defaults("analysis.umap"), "n_neighbors": 10, "max_objects": 50}
    a, notes = fit_umap(X, ids, cfg, 0)
    b, _ = fit_umap(X, ids, cfg, 0)
    assert len(a) == 50 and any("subsample of 50 of 60" in n for n in notes)
    np.testing.assert_allclose(a[["umap_1", "umap_2"]], b[["umap_1", "umap_2"]])


def test_search_returns_nearest_by_cosine():
    X = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], np.float32)
    objects = pd.DataFrame({"id": list("abcde"), "cls": ["x", "x", "y", "y", "x"]})
    q = pick_queries(objects, "cls", 1, 10, 0)
    assert sorted(objects["cls"].iloc[q]) == ["x", "y"]
    table = similar(X, objects, np.array([0]), 2, ["cls"])
    assert table["neighbour_id"].tolist() == ["a", "b", "d"] and table["rank"].tolist() == [0, 1, 2]
    cos = X[0] @ X[1] / np.linalg.norm(X[1])
    assert table["cosine"].iloc[1] == pytest.approx(cos, rel=1e-5)
