"""The analysis config: schema defaults, the effective set list (sets of studies not enabled skipped and said
so), one-line errors for bad cross-references; UMAP and search on tiny data."""

import numpy as np
import pandas as pd
import pytest

from skytext.analysis.search import pick_queries, similar
from skytext.analysis.sets import check_config, input_files, plan
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


def test_item_defaults_come_from_the_schema_through_check():
    cfg = check({"analysis": {"embeddings": [{"name": "x", "format": "table", "path": "x.npy",
                                              "catalogue": "images-obs"}]}})
    s = cfg["analysis"]["embeddings"][0]
    assert (s["id"], s["kind"], s["ids"], s["key"], s["split"]) == ("id", "other", None, None, None)
    assert cfg["analysis"]["catalogues"][0]["exclude"] == []


def test_bad_references_are_one_line_errors():
    """check_config holds the rules a schema cannot say (config.check runs it as CROSS_CHECKS["analysis"])."""
    base = {"name": "x", "format": "table", "path": "x.npy", "catalogue": "nope"}
    cases = [([base], "unknown catalogue 'nope'"),
             ([{**base, "format": "aion", "catalogue": "images-obs"}], "needs `key`"),
             ([{**base, "format": "astropt", "path": "e.npz", "catalogue": "images-obs"}], "needs `key`"),
             ([{**base, "format": "astroclip", "catalogue": "images-obs"}], "needs `valid_indices`"),
             ([{**base, "catalogue": "images-obs"}] * 2, "used twice")]
    for embeddings, match in cases:
        with pytest.raises(ConfigError, match=match):
            check_config(check({"analysis": {"embeddings": embeddings}}))
    astropt = {**base, "format": "astropt", "path": "e.npy", "catalogue": "images-obs"}
    ok = check({"analysis": {"embeddings": [astropt]}})
    check_config(ok)  # astroPT's own layout needs no key
    assert input_files(ok["analysis"]["embeddings"][0], ok) == ["e.npy", "ids.npy"]
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
