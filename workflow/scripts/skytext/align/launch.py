"""Run one training job, in this process or data-parallel in several under ``torchrun``.

A job is a JSON-able dict: the model spec, the training settings, the dataset and caption tables, and the
output paths. With one process it runs here; with more, it is written next to the checkpoints and
``python -m torch.distributed.run --standalone --nproc_per_node N -m skytext.align.launch --job FILE`` starts
one worker per GPU (gloo on CPU), each running the same job as one rank.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from skytext.align import distributed
from skytext.align.data import caption_lookup
from skytext.align.models import ModelSpec
from skytext.align.train import TrainConfig, train
from skytext.core.smk import to_terminal


def make_job(spec: ModelSpec, cfg: TrainConfig, observations: str, captions: str, weights: str, metrics: str,
             ckpt_dir: str) -> dict:
    """The JSON-able training job: spec, settings, input tables and output paths."""
    return {"spec": asdict(spec), "train": asdict(cfg), "observations": str(observations),
            "captions": str(captions), "weights": str(weights), "metrics": str(metrics), "ckpt_dir": str(ckpt_dir)}


def run_job(job: dict, world: distributed.World | None = None, stop_after: int | None = None) -> pd.DataFrame:
    """Train as the job says; observations without a caption of the job's type are left out, and counted."""
    spec, cfg = ModelSpec(**job["spec"]), TrainConfig.from_dict(job["train"])
    obs = pd.read_parquet(job["observations"])
    texts = caption_lookup(pd.read_parquet(job["captions"]))
    usable = obs["proposal_id"].astype(str).isin(set(texts))
    if world is None or world.is_main:
        print(f"{int((~usable).sum())} observations have no {spec.caption} caption and are left out "
              "(see the captions rejects)")
    obs = obs[usable]
    return train(spec, cfg, obs[obs["split"] == "train"], obs[obs["split"] == "val"], texts, job["weights"],
                 job["metrics"], job["ckpt_dir"], stop_after=stop_after, world=world, progress=to_terminal)


def run(job: dict, processes: int, threads: int) -> None:
    """Run ``job`` here (one process) or under torchrun with ``processes`` ranks on this node."""
    if processes <= 1:
        run_job(job)
        return
    path = Path(job["ckpt_dir"]) / "job.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job, indent=1))
    here = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "OMP_NUM_THREADS": str(max(1, threads // processes))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
           f"--nproc_per_node={processes}", "-m", "skytext.align.launch", "--job", str(path)]
    print("launching:", " ".join(cmd), flush=True)
    sys.stderr.flush()
    done = subprocess.run(cmd, env=env, stdout=sys.stdout, stderr=sys.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"data-parallel training with {processes} processes failed (torchrun exit "
                           f"{done.returncode}); the workers' errors are above in this log")


def main(argv: list[str] | None = None) -> None:
    """One torchrun worker: run the job file given by ``--job`` as this process's rank."""
    ap = argparse.ArgumentParser(description="one rank of a data-parallel skytext training job (run by torchrun)")
    ap.add_argument("--job", required=True, help="job JSON written by skytext.align.launch.run")
    ap.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    job = json.loads(Path(args.job).read_text())
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    world = distributed.from_env()
    try:
        run_job(job, world, stop_after=args.stop_after)
        world.barrier()
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()
