#!/usr/bin/env bash
# CI: run the micro demo DAG through a real one-node Slurm cluster and check it against a local run.
#
#   .ci/slurm/run-demo.sh [CONFIGFILE]        # default tests/configs/micro.yaml
#
# 1. brings the cluster up (.ci/slurm/up.sh; down.sh on exit),
# 2. copies the repository (without results/, logs/, .snakemake/, .venv/) to two temp dirs,
# 3. runs `snakemake --profile profiles/slurm --profile profiles/slurm-ci` in one and a plain local run in
#    the other, both with --configfile CONFIGFILE,
# 4. asserts every job of the Slurm run was a Slurm job (one "submitted with SLURM jobid N" line and one
#    .snakemake/slurm_logs/rule_<rule>/.../N.log per job, and the job count equals the local run's), and
# 5. asserts results/<study>/<source>/eval/retrieval.json is identical in both runs, timing fields excepted.
# Env: SKYTEXT_CI_KEEP=1 keeps the temp dirs; SKYTEXT_CI_SNAKEFILE picks another Snakefile (self-test with
# tests/data/slurm/Snakefile, which has no eval output: then step 5 is skipped).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CONFIGFILE="${1:-tests/configs/micro.yaml}"
SNAKEFILE="${SKYTEXT_CI_SNAKEFILE:-Snakefile}"
PY="${SKYTEXT_PYTHON:-$REPO/.venv/bin/python}"
SNAKEMAKE="$(dirname "$PY")/snakemake"
export PATH="$(dirname "$PY"):$PATH"   # jobs inherit this PATH (sbatch --export=ALL): the venv, no conda

die() { echo "run-demo: error: $*" >&2; exit 1; }
[[ -f $REPO/$CONFIGFILE ]] || die "config $CONFIGFILE not found (relative to $REPO)"
[[ -f $REPO/$SNAKEFILE ]] || die "Snakefile $SNAKEFILE not found (relative to $REPO)"

WORK="$(mktemp -d /tmp/skytext-slurm-ci.XXXXXX)"
cleanup() {
    "$REPO/.ci/slurm/down.sh" || true
    if [[ ${SKYTEXT_CI_KEEP:-0} == 1 ]]; then echo "run-demo: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

"$REPO/.ci/slurm/up.sh"
export SLURM_CONF="${SKYTEXT_SLURM_DIR:-/tmp/skytext-slurm}/slurm.conf"

copy_repo() {  # the working tree without outputs or the venv, so the runs cannot clash with local results
    mkdir -p "$1"
    tar -C "$REPO" --exclude=./.git --exclude=./.venv --exclude=./results --exclude=./logs \
        --exclude=./.snakemake --exclude=./.pytest_cache -cf - . | tar -C "$1" -xf -
}
copy_repo "$WORK/slurm"
copy_repo "$WORK/local"

common=(--snakefile "$SNAKEFILE" --configfile "$CONFIGFILE" --show-failed-logs)

echo "run-demo: Slurm run in $WORK/slurm" >&2
start=$SECONDS
(cd "$WORK/slurm" && "$SNAKEMAKE" --profile profiles/slurm --profile profiles/slurm-ci "${common[@]}") \
    2>&1 | tee "$WORK/slurm.log"
slurm_s=$((SECONDS - start))

echo "run-demo: local run in $WORK/local" >&2
start=$SECONDS
(cd "$WORK/local" && "$SNAKEMAKE" --workflow-profile none --cores 2 "${common[@]}") 2>&1 | tee "$WORK/local.log"
local_s=$((SECONDS - start))

"$PY" - "$WORK" <<'PY'
"""Every job ran as a Slurm job; evaluation numbers equal the local run's."""
import json, re, sys
from pathlib import Path

work = Path(sys.argv[1])
slurm_log = (work / "slurm.log").read_text()
local_log = (work / "local.log").read_text()

def job_count(log: str) -> int:
    m = re.search(r"^total\s+(\d+)$", log, re.M)  # "Job stats" table
    if not m:
        sys.exit("run-demo: error: no job stats table in the log")
    return int(m.group(1))

# "Job 3 has been submitted with SLURM jobid 17 (log: /.../.snakemake/slurm_logs/rule_x/17.log)."
subs = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)", slurm_log)
n_slurm, n_local = job_count(slurm_log), job_count(local_log)
ids = [int(i) for i, _ in subs]
assert len(set(ids)) == len(ids), f"Slurm job ids repeat: {ids}"
# The aggregate `all` rule is local by definition (localrules) and never submitted.
local_only = len(re.findall(r"^localrule \w+:", slurm_log, re.M))
assert len(subs) + local_only == n_slurm, (
    f"{len(subs)} Slurm submissions + {local_only} local rules != {n_slurm} jobs")
assert n_slurm == n_local, f"Slurm run planned {n_slurm} jobs, local run {n_local}"
missing = [p for _, p in subs if not Path(p).is_file()]
assert not missing, f"Slurm job logs missing: {missing[:5]}"
for jobid, path in subs:
    text = Path(path).read_text()
    assert "slurm-jobstep" in text or "Finished jobid" in text or "rule " in text, f"{path}: not a job log"
print(f"run-demo: {len(subs)} Slurm jobs (ids {min(ids)}..{max(ids)}), {local_only} local rules, "
      f"{n_slurm} jobs in both runs")

TIMING = re.compile(r"(^|_)(time|times|seconds|secs|s|elapsed|duration|wall|timestamp|created|started|finished)($|_)")

def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if not TIMING.search(k.lower())}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj

evals = sorted((work / "slurm").glob("results/*/*/eval/retrieval.json"))
if not evals:
    print("run-demo: no results/*/*/eval/retrieval.json (self-test workflow?): numbers not compared")
    sys.exit(0)
for s_path in evals:
    l_path = work / "local" / s_path.relative_to(work / "slurm")
    a, b = strip(json.loads(s_path.read_text())), strip(json.loads(l_path.read_text()))
    if a != b:
        sys.exit(f"run-demo: error: {s_path.relative_to(work / 'slurm')} differs between Slurm and local:\n"
                 f"  slurm: {json.dumps(a)[:800]}\n  local: {json.dumps(b)[:800]}")
    print(f"run-demo: {s_path.relative_to(work / 'slurm')} identical in both runs (timing fields excepted)")
PY
echo "run-demo: ok (Slurm run ${slurm_s}s, local run ${local_s}s)" >&2
