"""Entry script for the train rule: one fine-tuned model per training mode and caption type."""

from pathlib import Path

import pandas as pd

from skytext.align import launch
from skytext.align.models import ModelSpec
from skytext.align.train import TrainConfig
from skytext.core import gpus
from skytext.core.smk import log_to, threads_for_torch
from skytext.eval.plots import training_curves


def processes_for(train_params: dict, n_gpus: int) -> int:
    """Training processes: ``train.processes`` when set, else one per GPU the job was given."""
    return int(train_params["processes"] or max(1, n_gpus))


def main(input, output, params, wildcards, threads, resources) -> None:
    threads_for_torch(threads)
    mode, caption = wildcards["model"].split("-", 1)
    cfg = TrainConfig.from_config(params["train"], params["seed"])
    spec = ModelSpec.from_config(params["model"], mode=mode, caption=caption, seed=params["seed"])
    job = launch.make_job(spec, cfg, input["observations"], input["captions"], output["weights"], output["metrics"],
                          params["ckpt_dir"])
    n_gpus = int(resources["gpu"])
    with gpus.claim(n_gpus):  # the torchrun workers inherit the claimed GPUs
        launch.run(job, processes_for(params["train"], n_gpus), threads)
    spec.weights = str(Path(output["weights"]))
    spec.to_json(output["spec"])
    training_curves(pd.read_csv(output["metrics"]), output["curves"], title=wildcards["model"])


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards, snakemake.threads,  # noqa: F821
             snakemake.resources)  # noqa: F821
