"""The image study's models: the untrained base (a spec only) and one fine-tuned model per mode and caption."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from skytext.align import launch
from skytext.align.models import ModelSpec
from skytext.align.train import TrainConfig
from skytext.core import gpus
from skytext.core.smk import threads_for_torch
from skytext.eval.plots import training_curves


def run_base_model(model: dict, seed: int, out_spec: str) -> None:
    """Rule ``base_model``: the untrained model's spec (``model``: the ``images.model`` section; no weights)."""
    ModelSpec.from_config(model, mode="full", caption=None, seed=seed).to_json(out_spec)


def processes_for(processes: int, n_gpus: int) -> int:
    """Training processes: ``images.train.processes`` when set, else one per GPU the job was given."""
    return int(processes or max(1, n_gpus))


def run_train(name: str, observations: str, captions: str, model: dict, train: dict, seed: int, ckpt_dir: str,
              out_weights: str, out_spec: str, out_metrics: str, out_curves: str, threads: int,
              gpus_given: int) -> None:
    """Rule ``train``: fine-tune model ``name`` (``<mode>-<caption>``) and write its weights, spec, metrics and
    curves; ``train``: the ``images.train`` leaves :class:`TrainConfig` reads plus ``processes``."""
    threads_for_torch(threads)
    mode, caption = name.split("-", 1)
    cfg = TrainConfig.from_config(train, seed)
    spec = ModelSpec.from_config(model, mode=mode, caption=caption, seed=seed)
    job = launch.make_job(spec, cfg, observations, captions, out_weights, out_metrics, ckpt_dir)
    with gpus.claim(int(gpus_given)):  # the torchrun workers inherit the claimed GPUs
        launch.run(job, processes_for(train["processes"], int(gpus_given)), threads)
    spec.weights = str(Path(out_weights))
    spec.to_json(out_spec)
    training_curves(pd.read_csv(out_metrics), out_curves, title=name)
