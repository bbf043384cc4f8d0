"""Every example config in config/examples/ (one per input format: AION, AstroCLIP, astroPT, table, FITS
catalogue) parses, passes the config check, and runs on tiny files written in that format, with no hand
conversion (issue 22, item 16): the prepare and probe rules' functions as the rules call them, and, end to
end, Snakemake's prepare and probe jobs."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, run_snakemake
from skytext.analysis.sets import check_config, input_files, plan, resolve_path
from skytext.analysis.steps import prepare_set, probe_set
from skytext.core.config import check

EXAMPLES = ROOT / "config" / "examples"
N = 60


def _latent():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, N), rng.uniform(-1, 1, N)
    X = np.tanh(np.stack([a, b], 1) @ rng.normal(size=(2, 16)) * 1.5) + 0.05 * rng.normal(size=(N, 16))
    return a, b, X.astype(np.float32), rng


def _aion(a, b, X, rng):
    ids = 39627000 + np.arange(N)
    torch.save([{"object_id": np.int64(i), "embedding_hsc_desi": torch.tensor(np.tile(x, (3, 1)))}
                for i, x in zip(ids, X)], "data/aion/embeddings.pt")  # numpy-scalar ids, token arrays
    pd.DataFrame({"object_id": ids, "z": a + 1, "logm": b + 10, "morphology": np.where(a > 0, "disc", "bulge")}
                 ).to_parquet("data/aion/properties.parquet")


def _astroclip(a, b, X, rng):
    full = np.vstack([X, rng.normal(size=(5, 16))]).astype(np.float32)  # 5 rows not valid
    torch.save(torch.from_numpy(full), "data/astroclip/image_embeddings.pt")
    torch.save(torch.arange(N), "data/astroclip/valid_indices.pt")
    tid = 3960000000000 + np.arange(N + 5)
    pd.DataFrame({"targetid": tid}).to_parquet("data/astroclip/targetids.parquet")
    pd.DataFrame({"targetid": tid[:N], "Z_HP": a + 1, "LOG_MSTAR": b + 10, "SFR": 10 ** (b + 1)}
                 ).to_parquet("data/astroclip/provabgs.parquet")


def _astropt(a, b, X, rng):
    from astropy.table import Table

    ids = np.array([f"dr8_{i}" for i in range(N)])
    np.save("data/astropt/embeddings.npy", X)
    np.save("data/astropt/ids.npy", ids)
    Table({"dr8_id": ids, "mag_r": a + 18, "redshift": b + 1,
           "smooth_or_featured": np.where(a > 0, "smooth", "featured")}).write("data/astropt/galaxies.fits")


def _table(a, b, X, rng):
    ids = [f"src{i}" for i in range(N)]
    np.save("data/table/embeddings.npy", X)
    pd.DataFrame({"objid": ids}).to_parquet("data/table/ids.parquet")
    pd.DataFrame({"objid": ids, "vector": list(X.astype(np.float64))}).to_parquet("data/table/vectors.parquet")
    pd.DataFrame({"objid": ids, "ra": rng.uniform(0, 360, N), "dec": rng.uniform(-90, 90, N), "hardness": a,
                  "flux": b, "class": np.where(a > 0, "AGN", "star")}).to_csv("data/table/sources.csv", index=False)


def _fits(a, b, X, rng):
    from astropy.table import Table

    ids = np.array([f"J{i:04d}" for i in range(N)])
    np.save("data/fits/embeddings.npy", X)
    np.save("data/fits/ids.npy", ids)
    Table({"id": ids, "ra": rng.uniform(0, 360, N), "dec": rng.uniform(-90, 90, N), "mag_g": a + 20,
           "mag_r": b + 19, "type": np.where(a > 0, "E", "S"),
           "flags": [json.dumps({"blend": int(v > 0)}) for v in b]}).write("data/fits/survey.fits")


MAKERS = {"aion": _aion, "astroclip": _astroclip, "astropt": _astropt, "table": _table, "catalogue-fits": _fits}


def test_every_example_has_fixtures():
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(MAKERS)


def _write(name: str, root) -> dict:
    config = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    for entry in config["analysis"]["embeddings"] + config["analysis"]["catalogues"]:
        (root / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
    MAKERS[name](*_latent())
    return config


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_example_config_runs_on_files_in_its_format(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = check(_write(name, tmp_path))
    check_config(cfg)
    p = plan(cfg)
    assert p.sets and not p.skipped
    probes = {**cfg["analysis"]["probes"], "n_boot": 0, "min_objects": 5, "knn_k": 5, "mlp_max_iter": 20,
              "methods": ["knn", "linear"]}
    for entry in p.sets:
        cat = p.catalogues[entry["catalogue"]]
        files = input_files(entry, cfg)
        assert all((tmp_path / f).exists() for f in files), files
        out = tmp_path / "out" / entry["name"]
        out.mkdir(parents=True)
        counts = prepare_set(entry=entry, catalogue=cat, embeddings=files[0], catalogue_file=resolve_path(cat, cfg),
                             test_fraction=0.3, seed=0, out_embeddings=str(out / "e.npy"),
                             out_objects=str(out / "o.parquet"), out_counts=str(out / "c.json"),
                             out_rejects=str(out / "r.parquet"))
        assert counts["n_joined"] == counts["n_objects"] == N, counts
        assert counts["properties"] and not counts["notes"], counts
        scores = probe_set(embeddings=str(out / "e.npy"), objects=str(out / "o.parquet"), counts=str(out / "c.json"),
                           probes=probes, seed=0, threads=1, out_probes=str(out / "p.csv"),
                           out_predictions=str(out / "pred.parquet"), out_notes=str(out / "n.json"))
        assert set(scores["property"]) >= set(counts["properties"]) | set(counts["classes"])


@pytest.mark.e2e
def test_examples_run_through_snakemake(workflow_copy, monkeypatch):
    """Each example's prepare and probe jobs, through Snakemake, in one copy of the workflow."""
    shutil.copytree(EXAMPLES, workflow_copy / "config" / "examples")
    fast = {"analysis": {"probes": {"n_boot": 0, "min_objects": 5, "knn_k": 5, "methods": ["knn", "linear"]}}}
    (workflow_copy / "fast.yaml").write_text(yaml.safe_dump(fast))
    monkeypatch.chdir(workflow_copy)
    for name in sorted(MAKERS):
        cfg = _write(name, workflow_copy)
        targets = [f"results/analysis/files/{e['name']}/probes.csv" for e in cfg["analysis"]["embeddings"]]
        run_snakemake(workflow_copy, *targets, "--configfile", f"config/examples/{name}.yaml", "fast.yaml",
                      timeout=1800)
        for t in targets:
            assert not pd.read_csv(workflow_copy / t).empty
