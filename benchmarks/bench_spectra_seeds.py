"""The default demo spectra study on seeds 0, 1, 2 (each seed a new sky, split and training): spectrum->text
Recall@1 % (the rank cut stated: 1 % of n candidates = rank <= ceil(n/100)) and Recall@1 (rank 1) of the
ensemble per seed and their mean, beside the shuffled control and chance; with the outliers found.

Each seed runs in its own copy of the workflow, one after the other with ``--cores 2`` (the default study
took about 5 min per seed on 2 cores shared with other jobs, load average 6-9). ``--config KEY=VALUE ...`` is passed to snakemake (an ablation, e.g.
``spectra={align: {ensemble: 10}}``); ``--reuse`` only reads the results of an earlier run in ``--workdir``.

Usage: python benchmarks/bench_spectra_seeds.py [--seeds 0 1 2] [--workdir DIR] [--config ...] [--reuse]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import copy_workflow  # noqa: E402


def seed_row(res: Path) -> dict:
    """The headline numbers of one finished spectra run (results/spectra/demo)."""
    h = json.loads((res / "eval" / "retrieval.json").read_text())["headline"]
    out = json.loads((res / "eval" / "outliers.json").read_text())
    n = out.get("n_planted", 0)
    return {"candidates": h["n_text_candidates"], "rank_cut": h["rank_cut_1pct"],
            "recall_at_1pct": h["spectrum_to_text_recall_at_1pct"]["ensemble"],
            "recall_at_1": h["spectrum_to_text_recall_at_1"]["ensemble"],
            "shuffled_at_1pct": h["spectrum_to_text_recall_at_1pct"].get("shuffled"),
            "chance_at_1pct": h["spectrum_to_text_recall_at_1pct"].get("random"),
            "outliers_planted": n,
            "outliers_found": {k: out[k][f"found_at_{n}"] for k in ("ranking", "shared", "spectral", "text") if k in out}}


def run_seed(work: Path, seed: int, extra: list[str]) -> float:
    """Run the default spectra study for ``seed`` in ``work`` (a fresh workflow copy); its wall time (s)."""
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "Snakefile").exists():
        copy_workflow(work)
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--cores", "2", "spectra", "--config", f"seed={seed}",
           "studies=[spectra]", *extra]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"seed {seed} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t


def table(rows: dict[int, dict]) -> str:
    """The per-seed rows and their mean as a Markdown table."""
    lines = ["| seed | candidates | Recall@1% (rank <= cut) | Recall@1 (rank 1) | shuffled @1% | chance @1% | "
             "outliers found (ranking / shared / spectral / text) |", "|---|---|---|---|---|---|---|"]
    for s, r in rows.items():
        f = r["outliers_found"]
        lines.append(f"| {s} | {r['candidates']} | {r['recall_at_1pct']:.3f} (<= {r['rank_cut']}) | {r['recall_at_1']:.3f} "
                     f"| {r['shuffled_at_1pct']:.3f} | {r['chance_at_1pct']:.3f} | "
                     f"{' / '.join(str(f.get(k, '-')) for k in ('ranking', 'shared', 'spectral', 'text'))} of "
                     f"{r['outliers_planted']} |")
    mean = {k: sum(r[k] for r in rows.values()) / len(rows) for k in ("recall_at_1pct", "recall_at_1", "shuffled_at_1pct",
                                                                      "chance_at_1pct")}
    lines.append(f"| mean | | **{mean['recall_at_1pct']:.3f}** | {mean['recall_at_1']:.3f} | {mean['shuffled_at_1pct']:.3f} "
                 f"| {mean['chance_at_1pct']:.3f} | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--config", nargs="*", default=[], help="extra KEY=VALUE pairs for snakemake --config")
    ap.add_argument("--reuse", action="store_true", help="read the results already in --workdir; run nothing")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="skytext-seeds-"))
    rows, walls = {}, {}
    for s in a.seeds:
        if not a.reuse:
            walls[s] = round(run_seed(work / f"seed{s}", s, a.config), 1)
        rows[s] = seed_row(work / f"seed{s}" / "results" / "spectra" / "demo")
    print(table(rows))
    mean = sum(r["recall_at_1pct"] for r in rows.values()) / len(rows)
    print(json.dumps({"seeds": rows, "wall_s": walls, "mean_recall_at_1pct": mean, "config": a.config}, indent=1))


if __name__ == "__main__":
    main()
