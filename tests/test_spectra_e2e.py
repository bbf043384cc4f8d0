"""End-to-end: the spectra study of the shared micro run of all four studies (conftest ``micro_all``, whose
spectra section is tests/configs/spectra-micro.yaml's study with one shard), and the contract the analysis study
reads. tests/configs/spectra-micro.yaml stays for running the study alone (tests/test_spectra_csc.py builds its
csc config from it)."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_snakemake

pytestmark = pytest.mark.e2e


def test_spectra_target_on_micro_config(micro_all):
    wf = micro_all.wf
    res = wf / "results" / "spectra" / "demo"
    src = pd.read_parquet(res / "dataset" / "sources.parquet")
    assert src["source_id"].is_unique and {"class", "split", "is_outlier", "powlaw_gamma", "hard_hm"} <= set(src.columns)
    rej = pd.read_parquet(res / "dataset" / "rejects.parquet")
    assert {"truncated_pha", "no_counts", "wrong_channels", "not_ogip", "no_abstract"} <= set(rej["reason"])
    ids = {}
    for space in ("spectral", "text", "shared"):
        x = np.load(res / "embed" / f"{space}.npy")
        meta = pd.read_parquet(res / "embed" / f"{space}.parquet")
        assert x.dtype == np.float32 and len(x) == len(meta) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-4)
        assert {"source_id", "split"} <= set(meta.columns)
        ids[space] = set(meta["source_id"])
    assert ids["spectral"] == ids["shared"] == set(src["source_id"])
    assert ids["text"] == set(src.loc[src["n_papers"] > 0, "source_id"]) < ids["spectral"]
    out = json.loads((res / "eval" / "retrieval.json").read_text())
    for name in ("ensemble", "shuffled", "random", "oracle"):
        for d in ("spectrum_to_text", "text_to_spectrum"):
            assert 0 <= out["results"][name][d]["top10pct"] <= 1
    head = out["headline"]
    assert head["rank_cut_statement"] == f"1% of {head['n_text_candidates']} candidates = rank <= {head['rank_cut_1pct']}"
    assert 0 <= head["spectrum_to_text_recall_at_1"]["ensemble"] <= head["spectrum_to_text_recall_at_1pct"]["ensemble"]
    curve = out["results"]["ensemble"]["spectrum_to_text"]["recall_at_pct"]
    assert curve["k_percent"][0] == 0.5 and curve["recall"] == sorted(curve["recall"]) and curve["recall"][-1] == 1.0
    reg = pd.read_csv(res / "eval" / "regression.csv")
    assert set(reg["features"]) == {"spectral", "text", "shared", "concat", "moe"}
    assert set(reg["subset"]) == {"with_papers", "without_papers"}
    assert set(reg.loc[reg["subset"] == "without_papers", "features"]) == {"spectral", "moe"}  # spectral fallback
    ok = reg[reg["r2_lo"].notna() & reg["r2_hi"].notna()]
    assert len(ok) and (ok["r2_lo"] <= ok["r2_hi"]).all()  # percentile intervals (tiny subsets may not hold the point)
    mean = reg[(reg["variable"] == "mean") & (reg["subset"] == "with_papers")].set_index("features")
    assert np.isclose(mean.loc["moe", "r2_gain"], mean.loc["moe", "r2"] - mean.loc["spectral", "r2"])
    alone = reg[(reg["variable"] == "mean") & (reg["subset"] == "without_papers")].set_index("features")
    assert (alone["n"] == alone["n_sources"]).all() and alone.loc["moe", "r2"] == alone.loc["spectral", "r2"]
    outl = json.loads((res / "eval" / "outliers.json").read_text())
    assert {"ranking", "shared", "spectral", "text"} <= set(outl) and outl["n_planted"] > 0
    assert outl["chance_precision"] == outl["n_planted"] / outl["n_sources_ranked"]
    assert len(pd.read_csv(res / "eval" / "outliers.csv")) > 0
    assert (res / "eval" / "umap.png").stat().st_size > 1000
    # rerun: nothing to do
    again = run_snakemake(wf, "spectra", "--configfile", micro_all.config, "-n", timeout=600)
    assert "Nothing to be done" in again.stdout + again.stderr
