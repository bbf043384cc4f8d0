"""A training job killed mid-run (SIGKILL to Snakemake and the job) resumes from its checkpoint on the next
run and ends with the same metrics and weights as a run that was never interrupted."""

import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import SNAKEMAKE, copy_workflow, run_snakemake
from skytext.align.models import load_state_dict

pytestmark = pytest.mark.e2e

MODEL = "results/images/demo/models/full-abstract"
CONFIG = ["--configfile", "tests/configs/micro.yaml", "resume.yaml"]
RESUME = ("images: {train: {modes: [full], steps: 60, batch_size: 24, lr: 0.001, warmup_steps: 10, eval_every: 10,"
          " checkpoint_every: 10}}\n")


def _kill_after_first_checkpoint(cwd, target):
    env = {**os.environ, "PATH": f"{os.path.dirname(SNAKEMAKE)}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([SNAKEMAKE, "--cores", "2", target, *CONFIG], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    last = cwd / MODEL / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not last.exists():
        assert proc.poll() is None, "snakemake ended before the first checkpoint"
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and the training job, as a node failure would
    proc.wait()
    return int(torch.load(last, map_location="cpu", weights_only=True)["step"])


def test_killed_training_job_resumes_to_the_same_result(tmp_path):
    target = f"{MODEL}/model.pt"
    for name in ("killed", "clean"):
        (tmp_path / name).mkdir()
    killed, clean = copy_workflow(tmp_path / "killed"), copy_workflow(tmp_path / "clean")
    for d in (killed, clean):
        (d / "resume.yaml").write_text(RESUME)

    step_at_kill = _kill_after_first_checkpoint(killed, target)
    assert 10 <= step_at_kill < 60
    assert not (killed / target).exists()

    run_snakemake(killed, *CONFIG, "--unlock")
    run_snakemake(killed, target, "--rerun-incomplete", *CONFIG)
    run_snakemake(clean, target, *CONFIG)

    log = (killed / "logs/images/demo/train/full-abstract.log").read_text()
    assert f"resumed from {MODEL}/checkpoints/last.pt at step {step_at_kill}" in log
    resumed, uninterrupted = (pd.read_csv(d / MODEL / "metrics.csv") for d in (killed, clean))
    assert resumed["step"].tolist() == list(range(1, 61))
    for col in ("train_loss", "val_loss", "val_top10pct", "logit_scale"):
        np.testing.assert_allclose(resumed[col].dropna(), uninterrupted[col].dropna(), rtol=1e-5, err_msg=col)
    a, b = load_state_dict(killed / target), load_state_dict(clean / target)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
