#!/usr/bin/env bash
# All benchmarks, one after another; each prints ratios against its bare baseline measured in the same run.
#   benchmarks/run.sh           # this CPU machine: quick throughput + 100k x 100k search + DAG scale (~15 min)
#   benchmarks/run.sh --quick   # a few minutes: quick throughput, 10k x 10k search, DAG scale with 1 repeat
#   benchmarks/run.sh --gpu     # a CUDA machine: ViT-B-16 throughput in bf16, then search and DAG scale
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mode=${1:-}
echo "== throughput: skytext vs a bare open_clip loop (embedding >= 0.95x, training step >= 0.9x) =="
case "$mode" in
  --gpu) "$PY" benchmarks/bench_throughput.py --arch ViT-B-16 --config-file none --device cuda \
           --batch-size 256 --images 2048 --threads 8 ;;
  *) "$PY" benchmarks/bench_throughput.py --quick ;;
esac
echo "== similarity search: chunked top-k vs NumPy/torch brute force =="
if [ "$mode" = --quick ]; then "$PY" benchmarks/bench_search.py --quick; else "$PY" benchmarks/bench_search.py; fi
echo "== DAG planning time and job count, 1 to 100k observations =="
if [ "$mode" = --quick ]; then "$PY" benchmarks/bench_dag_scale.py --repeat 1; else "$PY" benchmarks/bench_dag_scale.py; fi
