"""The Slurm profile asks Slurm for GPUs for the GPU rules, and only for them.

No cluster and no GPU needed: fake ``sbatch``/``squeue``/``sacct``/``scontrol``/``scancel`` scripts
(tests/data/slurm/fakebin) go first on PATH; the fake sbatch records its argv, and the fake squeue reports
the job as failed so Snakemake stops right after the submission. The workflow is the small stand-in under
tests/data/slurm whose rule names (prepare, train, embed_images) match the real workflow's, so the
profile's ``set-resources`` apply to it exactly as they do to the real DAG.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "slurm"
PROFILE = REPO / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def submit(tmp_path: Path, target: str, *, done: tuple[str, ...] = ()) -> list[list[str]]:
    """Run ``snakemake --profile profiles/slurm <target>`` against the fakes; return each sbatch argv."""
    work = tmp_path / "wf"
    shutil.copytree(DATA, work, ignore=shutil.ignore_patterns("fakebin"))
    for path in done:  # inputs that already exist, so only the target's own job is submitted
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text("done\n")
    record = tmp_path / "sbatch.jsonl"
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(DATA / "fakebin"), str(SNAKEMAKE.parent), env.get("PATH", "")])
    env["FAKE_SLURM_RECORD"] = str(record)
    env.pop("SLURM_CONF", None)
    cmd = [
        str(SNAKEMAKE),
        "--profile", str(PROFILE),
        "--config", "gpu=0",              # the rules' own value; the profile must raise it for GPU rules
        "--sdm", "env-modules",           # no conda here; nothing else in the profile changes
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1",
        "--retries", "0",
        "--latency-wait", "1",
        "-j1",
        target,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert record.exists(), f"sbatch was never called (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    return [json.loads(line) for line in record.read_text().splitlines()]


def flag(argv: list[str], name: str) -> str | None:
    """Value of ``name`` in an sbatch argv (``--x=v``, ``--x v`` or ``-x v`` forms), or None if absent."""
    words = " ".join(argv).split()  # the plugin passes one shell string; split it into words
    for i, word in enumerate(words):
        if word.startswith(name + "="):
            return word.split("=", 1)[1].strip("'\"")
        if word == name and i + 1 < len(words):
            return words[i + 1].strip("'\"")
    return None


def profile_resources(rule: str) -> dict:
    """The profile's set-resources block for ``rule``."""
    return yaml.safe_load((PROFILE / "config.yaml").read_text())["set-resources"][rule]


def test_gpu_rule_submission_requests_gpus_from_profile(tmp_path):
    calls = submit(tmp_path, "out/train.txt", done=("out/prepare.txt",))
    assert len(calls) == 1, calls
    want = profile_resources("train")
    argv = calls[0]
    assert flag(argv, "--gpus") == str(want["gpu"]), argv
    assert flag(argv, "-p") == want["slurm_partition"], argv
    assert flag(argv, "--cpus-per-gpu") == str(want["cpus_per_gpu"]), argv
    assert flag(argv, "--mem") == str(want["mem_mb"]), argv
    assert flag(argv, "-t") == str(want["runtime"]), argv
    extra = " ".join(argv)
    assert "--gres" not in extra, argv  # GPUs only through --gpus, never a hand-written gres


def test_cpu_rule_submission_requests_no_gpus(tmp_path):
    calls = submit(tmp_path, "out/prepare.txt")
    assert len(calls) == 1, calls
    argv = calls[0]
    assert flag(argv, "--gpus") is None, argv
    assert flag(argv, "--cpus-per-gpu") is None, argv
    defaults = yaml.safe_load((PROFILE / "config.yaml").read_text())["default-resources"]
    assert flag(argv, "-p") == defaults["slurm_partition"].strip("'\""), argv
    assert flag(argv, "--mem") == str(defaults["mem_mb"]), argv


@pytest.mark.parametrize("profile", ["slurm", "slurm-ci"])
def test_profiles_never_pass_resources_through_slurm_extra(profile):
    """slurm_extra must not carry what the plugin sets itself (the plugin rejects or duplicates it)."""
    cfg = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    blocks = [cfg.get("default-resources") or {}, *(cfg.get("set-resources") or {}).values()]
    for block in blocks:
        extra = str(block.get("slurm_extra", ""))
        for forbidden in ("--gres", "--gpus", "--mem", "--time", "--partition", "-p ", "--cpus"):
            assert forbidden not in extra, (profile, extra)


def test_ci_profile_does_not_use_conda():
    cfg = yaml.safe_load((REPO / "profiles" / "slurm-ci" / "config.yaml").read_text())
    sdm = cfg["software-deployment-method"]
    assert "conda" not in ([sdm] if isinstance(sdm, str) else sdm)


def test_readme_slurm_dry_run_works_without_conda(tmp_path):
    """The README's `snakemake --profile profiles/slurm -n` on a machine with neither conda nor Slurm."""
    from conftest import copy_workflow

    work = copy_workflow(tmp_path)
    shutil.copytree(REPO / "profiles", work / "profiles")
    readme = (REPO / "README.md").read_text()
    assert "snakemake --profile profiles/slurm -n" in readme
    env = {**os.environ, "PATH": os.pathsep.join([str(SNAKEMAKE.parent), "/usr/bin", "/bin"])}
    assert shutil.which("conda", path=env["PATH"]) is None
    proc = subprocess.run([str(SNAKEMAKE), "--profile", "profiles/slurm", "-n"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "train" in out and "This was a dry-run" in out


def test_every_rule_that_trains_or_embeds_gets_a_gpu_in_the_slurm_profile():
    """The GPU rules of every study, not just the image study's, ask Slurm for a GPU; each names a real rule."""
    from test_conda_envs import rule_envs

    gpu_rules = {"train", "embed_image_part", "embed_texts", "explore", "spectra_autoencoder", "spectra_align",
                 "spectra_embed_text", "transients_cnn"}
    blocks = yaml.safe_load((PROFILE / "config.yaml").read_text())["set-resources"]
    assert set(blocks) <= set(rule_envs()), f"profile names unknown rules: {set(blocks) - set(rule_envs())}"
    assert {r for r in gpu_rules if blocks.get(r, {}).get("gpu", 0) >= 1} == gpu_rules
