"""Benchmark: the whole `analysis` target on N objects x 768-d x 3 sets, through Snakemake on 2 cores.

Three synthetic sets (skytext.analysis.synthetic) share N objects: `base` encodes two of six properties and a
class, `rotated` is a rotated noisy copy of it (CKA ~1), `other` is an independent map of the same properties.
They are written in the `table` format beside a Parquet catalogue, a config lists them, and
``snakemake --cores 2 analysis`` runs every analysis (probes with kNN / ridge / MLP and 1000 bootstrap
resamples, UMAP, correlations, pairs, search, summary) in a private copy of the workflow. Before that, the kNN
of the probes is timed in faiss and in scikit-learn on the same data, and the faster one is configured
(``analysis.probes.knn_backend``). Reported: wall time and peak RSS of every job (Snakemake's benchmark
files), the total wall time, and the kNN race.

    python benchmarks/bench_analysis.py --quick   # 10,000 objects
    python benchmarks/bench_analysis.py           # 100,000 objects (goal: <= 20 min, <= 6 GB per job)
    python benchmarks/bench_analysis.py --probes  # probe quality on a 768-d set (issue 22, item 19)

``--probes`` scores the kNN, linear and MLP probes (no bootstrap) on :func:`skytext.analysis.synthetic.wide`
(3,000 objects x 768 dims: a redshift-like ``z`` and ``logm`` encoded, ``noise_prop`` not) with the default
settings, in-process, and prints R² per property and method.

UMAP dominates per object; it is fitted on a seeded subsample of ``analysis.umap.max_objects`` (20,000 by
default) with ``low_memory=True``; mutual kNN and CKA use at most ``analysis.pairs.max_objects`` shared
objects; MLP probes train on at most ``analysis.probes.mlp_max_train``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from skytext.analysis import synthetic  # noqa: E402
from skytext.analysis.catalogue import split_objects  # noqa: E402
from skytext.analysis.probes import have_faiss, knn_search  # noqa: E402


def make_data(work: Path, n: int, dims: int) -> list[dict]:
    """Write the three synthetic sets and the catalogue under ``work/data``; return their config entries."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    cat = synthetic.catalogue(n, seed=0)
    cat.to_parquet(data / "catalogue.parquet", index=False)
    base = synthetic.embed(cat, dims=dims, noise=0.05, seed=1)
    sets = {
        "base": base,
        "rotated": (base @ synthetic.random_rotation(dims, seed=2)).astype(np.float32)
        + np.float32(0.01) * np.random.default_rng(3).standard_normal(base.shape, dtype=np.float32),
        "other": synthetic.embed(cat, dims=dims, noise=0.2, seed=4),
    }
    entries = []
    for name, X in sets.items():
        np.save(data / f"{name}.npy", X)
        cat[["object_id"]].to_parquet(data / f"{name}.parquet", index=False)
        entries.append({"name": name, "format": "table", "path": str(data / f"{name}.npy"), "id": "object_id",
                        "kind": "other", "catalogue": "syn"})
    return entries


def knn_race(work: Path, k: int, max_queries: int = 5000) -> dict:
    """Seconds for the probes' kNN (train-standardised, euclidean) in each backend, on the same queries."""
    X = np.load(work / "data" / "base.npy", mmap_mode="r")
    ids = pd.read_parquet(work / "data" / "base.parquet")["object_id"]
    split = split_objects(ids, 0.3, 0)
    tr, te = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")[:max_queries]
    Z = np.asarray(X, dtype=np.float32)
    mu, sd = Z[tr].mean(0), Z[tr].std(0)
    Z = (Z - mu) / sd
    out = {"queries": int(len(te)), "train": int(len(tr))}
    for backend in ["sklearn"] + (["faiss"] if have_faiss() else []):
        t0 = time.perf_counter()
        knn_search(Z[tr], Z[te], k, "euclidean", backend)
        out[backend] = round(time.perf_counter() - t0, 2)
    out["winner"] = min((b for b in ("sklearn", "faiss") if b in out), key=lambda b: out[b])
    return out


def probe_quality(n: int, dims: int) -> dict:
    """R² of every probe on the wide synthetic set (defaults, no bootstrap), with the seconds it took."""
    from skytext.analysis.probes import run_probes
    from skytext.core.config import defaults

    cat, X = synthetic.wide(n, dims, 0)
    objects = cat.rename(columns={"object_id": "id"})
    objects["split"] = split_objects(objects["id"], 0.3, 0)
    cfg = {**defaults("analysis.probes"), "n_boot": 0}
    t0 = time.perf_counter()
    table, _, notes = run_probes(X, objects, ["z", "logm", "noise_prop"], [], cfg, 0, "wide")
    r2 = table[table.metric == "r2"].pivot(index="property", columns="method", values="value").round(3)
    return {"n_objects": n, "dims": dims, "r2": r2.to_dict(orient="index"), "notes": notes,
            "seconds": round(time.perf_counter() - t0, 1)}


def run(n: int, dims: int, keep: bool) -> dict:
    """Run the whole analysis target on ``n`` objects x ``dims`` x 3 sets; timings, scores and the kNN race."""
    work = Path(tempfile.mkdtemp(prefix="bench_analysis_"))
    try:
        t0 = time.perf_counter()
        entries = make_data(work, n, dims)
        t_data = time.perf_counter() - t0
        race = knn_race(work, 64)
        config = {"studies": ["analysis"], "analysis": {
            "source": "files", "embeddings": entries,
            "catalogues": [{"name": "syn", "path": str(work / "data" / "catalogue.parquet"), "id": "object_id",
                            "classes": ["shape", "coin"]}],
            "probes": {"knn_backend": race["winner"]}, "threads": 2}}
        flow = work / "flow"
        flow.mkdir()
        for name in ("Snakefile", "config.yaml"):
            shutil.copy(ROOT / name, flow / name)
        for name in ("workflow", "resources"):
            shutil.copytree(ROOT / name, flow / name, ignore=shutil.ignore_patterns("__pycache__"))
        (flow / "bench.yaml").write_text(yaml.safe_dump(config))
        env = {**os.environ, "OMP_NUM_THREADS": "2", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        t0 = time.perf_counter()
        proc = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--cores", "2", "analysis",
                               "--configfile", "bench.yaml", "-q"], cwd=flow, env=env, capture_output=True,
                              text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        jobs = []
        for tsv in sorted((flow / "results" / "analysis" / "files" / "benchmarks").rglob("*.tsv")):
            row = pd.read_csv(tsv, sep="\t").iloc[-1]
            jobs.append({"job": f"{tsv.parent.name}/{tsv.stem}", "seconds": round(float(row["s"]), 1),
                         "max_rss_mb": round(float(row["max_rss"]), 0)})
        probes = pd.read_csv(flow / "results" / "analysis" / "files" / "probes.csv")
        knn = probes[(probes.method == "knn") & (probes.metric.isin(["r2", "balanced_accuracy"]))]
        pairs = pd.read_csv(flow / "results" / "analysis" / "files" / "pairs.csv")
        return {"n_objects": n, "dims": dims, "sets": 3, "cores": 2, "data_seconds": round(t_data, 1),
                "knn_race_seconds": race, "snakemake_wall_seconds": round(wall, 1), "jobs": jobs,
                "peak_rss_mb": max(j["max_rss_mb"] for j in jobs),
                "knn_scores": knn[["set", "property", "metric", "value", "ci_lo", "ci_hi"]].round(3).to_dict("records"),
                "pairs": pairs[["set_a", "set_b", "n_compared", "cka_linear", "mutual_knn", "cosine_mean"]]
                .round(3).to_dict("records"), "work": str(work) if keep else None}
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 objects instead of 100,000")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--dims", type=int, default=768)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", default=None, help="also write the result here")
    ap.add_argument("--probes", action="store_true", help="probe quality on 3,000 objects x 768 dims instead")
    args = ap.parse_args(argv)
    if args.probes:
        result = probe_quality(args.n or 3000, args.dims)
    else:
        result = run(args.n or (10_000 if args.quick else 100_000), args.dims, args.keep)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
