"""End to end: the real DAG on the demo source up to the LLM summaries, `llm.backend: openai` pointed at
the OpenAI-compatible stub on 127.0.0.1."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_workflow

from fakes.openai_stub import OpenAIStub

ROOT = Path(__file__).resolve().parents[1]
TARGET = "results/images/demo/llm/summaries.parquet"
HANG_S = 3600  # only a guard against a hang: no test passes or fails on how fast the machine is
KEY = "sk-e2e-5d1c9b7a3e2f4680"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (ROOT / "Snakefile").exists(), reason="the workflow's Snakefile does not exist yet"),
]

# a micro demo (the `images.demo` keys are in workflow/schemas/studies/images.schema.yaml)
MICRO = """\
images:
  source: demo
  captions: [abstract, summary]
  demo: {{n_proposals: 10, min_images: 1, max_images: 2, image_size: 32}}
llm:
  backend: openai
  base_url: '{url}'
  model: stub-model
  api_key_env: SKYTEXT_E2E_KEY
  shards: 2
  max_concurrency: 2
  timeout_s: 5
  backoff_s: 0.01
  prices: {{stub-model: {{input_per_1m: 1.0, output_per_1m: 2.0}}}}
"""


def test_demo_dag_makes_summaries_through_the_stub_and_reruns_for_free(tmp_path):
    copy_workflow(tmp_path)
    server = OpenAIStub(api_key=KEY).start()
    server.faults["*"] = ["429", "500", "drop"]
    try:
        (tmp_path / "micro.yaml").write_text(MICRO.format(url=server.url))
        env = {**os.environ, "SKYTEXT_E2E_KEY": KEY}
        cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "micro.yaml", "--show-failed-logs"]
        run = subprocess.run(cmd + ["results/images/demo/dataset/proposals.parquet"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=HANG_S)
        assert run.returncode == 0, run.stderr[-3000:]
        props = pd.read_parquet(tmp_path / "results/images/demo/dataset/proposals.parquet")
        down = props["title"].iloc[0]
        server.faults[down] = ["always:500"]  # this proposal's requests fail past every retry: a transient reject
        run = subprocess.run(cmd + [TARGET], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_S)
        assert run.returncode == 0, run.stderr[-3000:]
        sums = pd.read_parquet(tmp_path / TARGET)
        rejects = pd.read_parquet(tmp_path / "results/images/demo/llm/rejects.parquet")
        assert sorted(list(sums["proposal_id"]) + list(rejects["record_id"])) == sorted(props["proposal_id"])
        assert list(rejects["reason"]) == ["http_500"] and len(sums) == len(props) - 1
        assert sums["objects_and_phenomena"].map(len).min() >= 1
        calls = server.counts["chat"]
        server.faults.pop(down)  # the server recovers
        # a plain rerun (no --forcerun) asks again for the transient reject only; the rest come from the cache
        run = subprocess.run(cmd + [TARGET], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_S)
        assert run.returncode == 0, run.stderr[-3000:]
        assert server.counts["chat"] == calls + 1
        assert len(pd.read_parquet(tmp_path / TARGET)) == len(props)
        assert len(pd.read_parquet(tmp_path / "results/images/demo/llm/rejects.parquet")) == 0
        for _ in range(2):  # settles: at most one more run (no calls), then nothing to do
            run = subprocess.run(cmd + [TARGET], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_S)
            assert run.returncode == 0, run.stderr[-3000:]
        assert server.counts["chat"] == calls + 1 and "Nothing to be done" in run.stdout + run.stderr
        summary = (tmp_path / "results/images/demo/llm/run.json").read_text()
        assert f'"summarised": {len(props)}' in summary
        # the served summaries become the summary captions (the rest of the DAG from there on is backend-blind
        # and runs in the shared micro run, tests/test_dag.py)
        caps_target = "results/images/demo/captions/summary.parquet"
        run = subprocess.run(cmd + [caps_target], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_S)
        assert run.returncode == 0, run.stderr[-3000:]
        caps = pd.read_parquet(tmp_path / caps_target)
        assert len(caps) and caps["text"].str.startswith("Objects and phenomena:").all()
        assert server.counts["chat"] == calls + 1  # captions are built from the cache, no new calls
        leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
        assert leaks == []
    finally:
        server.stop()

