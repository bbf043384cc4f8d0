"""End to end: the `analysis` target on the micro config (fixture embeddings in table and AION formats, no
other study), outputs checked against the fixtures and recomputed independently."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from conftest import ROOT, run_snakemake


@pytest.mark.e2e
def test_analysis_micro(workflow_copy):
    shutil.copytree(ROOT / "tests" / "data" / "analysis", workflow_copy / "tests" / "data" / "analysis")
    # measured on 2 shared cores: 432 s (load ~16, 2 threads a job), 167 s (load ~13, 1 thread a job, as now);
    # the wall-clock limit is over 3x the slower
    run_snakemake(workflow_copy, "analysis", "--configfile", "tests/configs/analysis-micro.yaml", timeout=1800)
    res = workflow_copy / "results" / "analysis" / "files"
    summary = json.loads((res / "summary.json").read_text())
    assert [s["name"] for s in summary["skipped"]] == ["spectra-shared"]
    counts = {c["set"]: c for c in summary["sets"]}
    aion = counts["syn-aion"]
    assert (aion["n_objects"], aion["n_joined"], aion["n_missing_from_catalogue"], aion["n_catalogue_not_in_set"]) \
        == (110, 100, 10, 20)
    assert "empty" not in aion["properties"] and "a_minus_b" in aion["properties"]

    probes = pd.read_csv(res / "probes.csv")
    knn = probes[(probes.method == "knn") & (probes.metric == "r2")].set_index(["set", "property"])
    for s in ("syn-table", "syn-aion"):
        assert knn.loc[(s, "encoded_a"), "value"] > 0.8 and knn.loc[(s, "noise_c"), "value"] < 0.2
    pred = pd.read_parquet(res / "syn-table" / "predictions.parquet")
    p = pred[(pred.property == "encoded_b") & (pred.method == "knn")]
    cat = pd.read_parquet(ROOT / "tests" / "data" / "analysis" / "catalogue.parquet").set_index("object_id")
    np.testing.assert_allclose(p["y_true"], cat.loc[p["id"], "encoded_b"])  # joined on id, not on row
    assert knn.loc[("syn-table", "encoded_b"), "value"] == pytest.approx(r2_score(p.y_true, p.y_pred))

    pairs = pd.read_csv(res / "pairs.csv")
    row = pairs.iloc[0]
    assert (row.n_shared, row.only_in_a, row.only_in_b) == (100, 20, 10)
    assert row.cka_linear > 0.99  # the AION set is a rotated copy (plus tiny noise)
    corr = pd.read_csv(res / "correlations.csv")
    assert set(corr["measure"]) == {"linear_projection", "umap_1", "umap_2"}
    search = pd.read_csv(res / "search.csv")
    assert search.groupby(["set", "query_id"]).size().max() == 5  # query + k=4 neighbours
    for d in ("umap_properties", "umap_classes", "search"):
        assert any((res / d).glob("*.png"))
    assert (res / "umap_properties" / "encoded_a.png").exists() and (res / "umap_classes" / "shape.png").exists()
