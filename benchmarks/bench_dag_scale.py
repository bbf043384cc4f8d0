"""How long does Snakemake take to plan the full DAG as the data grows, and does the job count stay flat?

For each scale, a temp config asks for ``images.source: hst`` with N fabricated proposal ids (the acquisition plan
is the config list ``images.hst.proposal_ids``); ``snakemake -n`` plans the whole DAG without downloading
anything. Observations are nominal (PAPERCLIP's ~7.2 images per proposal): the DAG is sharded, so the
job count must depend on ``shards``, not on proposals or observations. Ratios are against a bare baseline
measured in the same run: the same dry run with a single proposal.

    .venv/bin/python benchmarks/bench_dag_scale.py [--configfile config/config.yaml] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
# (label, nominal observations, proposals)
SCALES = [
    ("1k", 1_000, 140),
    ("10k", 10_000, 1_400),
    ("paperclip", 32_000, 4_400),
    ("100k", 100_000, 15_000),
]


def default_configfile() -> Path:
    for cand in ("config/config.yaml", "config.yaml", "tests/configs/micro.yaml"):
        if (REPO / cand).is_file():
            return REPO / cand
    sys.exit("bench_dag_scale: error: no config file found; pass --configfile")


def dry_run(work: Path, configfile: Path, n_proposals: int, shards: int | None) -> tuple[float, int]:
    """Plan the full DAG for ``n_proposals`` fabricated proposals; return (seconds, job count)."""
    override = {"images": {"source": "hst", "hst": {"proposal_ids": [str(10_000 + i) for i in range(n_proposals)]}}}
    if shards is not None:
        override["shards"] = shards
    ovr = work / f"override_{n_proposals}.yaml"
    ovr.write_text(yaml.safe_dump(override))
    cmd = [
        str(SNAKEMAKE), "-n", "--workflow-profile", "none", "--cores", "1",
        "--snakefile", "Snakefile", "--configfile", str(configfile), str(ovr),
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"bench_dag_scale: error: dry run failed for {n_proposals} proposals:\n{out[-3000:]}")
    m = re.search(r"^total\s+(\d+)\s*$", out, re.M)
    if not m:
        sys.exit(f"bench_dag_scale: error: no job stats in the dry-run output:\n{out[-2000:]}")
    return elapsed, int(m.group(1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=None, help="base config (default: the repo's)")
    ap.add_argument("--shards", type=int, default=None, help="override config['shards']")
    ap.add_argument("--repeat", type=int, default=3, help="dry runs per scale (median reported)")
    args = ap.parse_args(argv)
    configfile = (args.configfile or default_configfile()).resolve()

    with tempfile.TemporaryDirectory(prefix="skytext-dagbench-") as tmp:
        work = Path(tmp)
        for part in ("workflow", "resources"):  # a copy: no lock or .snakemake clash with a real run
            shutil.copytree(REPO / part, work / part, ignore=shutil.ignore_patterns("__pycache__"))
        for part in ("Snakefile", "config.yaml"):
            shutil.copy(REPO / part, work / part)

        def measure(n: int) -> tuple[float, int]:
            runs = [dry_run(work, configfile, n, args.shards) for _ in range(args.repeat)]
            jobs = {j for _, j in runs}
            assert len(jobs) == 1, f"job count changed between identical dry runs: {jobs}"
            return statistics.median(t for t, _ in runs), jobs.pop()

        base_s, base_jobs = measure(1)
        print(f"config: {configfile.relative_to(REPO) if configfile.is_relative_to(REPO) else configfile}"
              f"  shards: {args.shards or 'from config'}  repeat: {args.repeat} (median)")
        print(f"baseline (1 proposal): {base_s:.2f} s, {base_jobs} jobs")
        print(f"{'scale':>10} {'observations':>12} {'proposals':>9} {'plan_s':>7} {'x_base':>7} {'jobs':>5} {'x_jobs':>6}")
        for label, n_obs, n_props in SCALES:
            secs, jobs = measure(n_props)
            print(f"{label:>10} {n_obs:>12,} {n_props:>9,} {secs:>7.2f} {secs / base_s:>7.2f} {jobs:>5} "
                  f"{jobs / base_jobs:>6.2f}")


if __name__ == "__main__":
    main()
