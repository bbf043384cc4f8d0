"""The spectra study on ``source: csc`` against a loopback replay of the CSC, SIMBAD and ADS that serves a demo sky
in the archive's formats (tests/fakes/csc_sky.py, tests/fakes/csc_replay.py): wall time, requests sent, the
acquisition jobs' times, and the headline metrics. Nothing leaves 127.0.0.1.

Usage: python benchmarks/bench_spectra_csc.py [--sources 1000] [--seed 0] [--workdir DIR] [--config extra.yaml]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from conftest import copy_workflow  # noqa: E402
from fakes.csc_replay import CSCReplay  # noqa: E402
from fakes.csc_sky import write_sky  # noqa: E402

TOKEN_ENV = "SKYTEXT_BENCH_ADS"  # a made-up token for the replay server, never a real one


def headline(res: Path) -> dict:
    r = json.loads((res / "eval" / "retrieval.json").read_text())
    curve = r["results"]["ensemble"]["spectrum_to_text"]["recall_at_pct"]
    i = curve["k_percent"].index(1.0)
    reg = pd.read_csv(res / "eval" / "regression.csv")
    mean = reg[(reg.variable == "mean") & (reg.subset == "with_papers")].set_index("features")
    src = pd.read_parquet(res / "dataset" / "sources.parquet")
    return {"recall_at_1pct": curve["recall"][i], "recall_at_1pct_ci": curve["recall_ci"][i],
            "shuffled": r["headline"]["spectrum_to_text_recall_at_1pct"]["shuffled"],
            "r2_spectral": mean.loc["spectral", "r2"], "r2_moe": mean.loc["moe", "r2"],
            "moe_gain": mean.loc["moe", "r2_gain"], "moe_gain_ci": [mean.loc["moe", "r2_gain_lo"], mean.loc["moe", "r2_gain_hi"]],
            "sources": len(src), "classes": src["class"].value_counts().to_dict()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--config", type=Path, default=None, help="extra config merged under spectra (e.g. a micro config)")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="skytext-csc-bench-"))
    (work / "wf").mkdir(parents=True, exist_ok=True)
    write_sky(work / "sky", a.sources, a.seed, 150.1, 2.2, 0.25)
    srv = CSCReplay("bench-token", work / "sky").start()
    os.environ[TOKEN_ENV] = "bench-token"
    try:
        wf = copy_workflow(work / "wf") if not (work / "wf" / "Snakefile").exists() else work / "wf"
        conf = yaml.safe_load(a.config.read_text()) if a.config else {"studies": ["spectra"]}
        conf["seed"] = a.seed
        spectra = conf.setdefault("spectra", {})
        spectra.pop("demo", None)
        spectra.update(source="csc", csc={
            "tap_url": f"{srv.url}/csc", "simbad_tap_url": f"{srv.url}/simbad", "ads_url": f"{srv.url}/ads/v1",
            "ads_token_env": TOKEN_ENV, "files": {"browse_url": f"{srv.url}/csccli/browse",
                                                  "retrieve_url": f"{srv.url}/csccli/retrieveFile"},
            "query": {"ra": 150.1, "dec": 2.2, "radius_deg": 0.25, "min_significance": 0.0}})
        (wf / "bench.yaml").write_text(yaml.safe_dump(conf))
        t = time.perf_counter()
        proc = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--cores", "2", "spectra",
                               "--configfile", "bench.yaml"], cwd=wf, capture_output=True, text=True)
        wall = time.perf_counter() - t
    finally:
        srv.stop()
    if proc.returncode:
        sys.exit(f"snakemake failed:\n{proc.stderr[-3000:]}")
    res = wf / "results" / "spectra" / "csc"
    jobs = {p.parent.name + ("" if p.stem == "all" else f"/{p.stem}"): float(pd.read_csv(p, sep="\t")["s"].iloc[-1])
            for p in sorted((res / "benchmarks").glob("*/*.tsv"))}
    out = {"sources": a.sources, "seed": a.seed, "wall_s": round(wall, 1), "requests": dict(srv.counts.most_common(5)),
           "file_requests": srv.file_requests(), "job_s": jobs, **headline(res)}
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
