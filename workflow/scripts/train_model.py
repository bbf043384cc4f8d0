"""Entry script for the train rule (and base_model, which only writes the untrained model's spec)."""

from pathlib import Path

import pandas as pd

from skytext.core import gpus

from skytext.align import launch
from skytext.align.models import ModelSpec
from skytext.eval.plots import training_curves
from skytext.core.smk import log_to, threads_for_torch
from skytext.align.train import TrainConfig


def spec_for(params, mode: str, caption: str | None, weights: str | None) -> ModelSpec:
    m = params["model"]
    return ModelSpec(arch=m["arch"], config_file=m["config_file"], pretrained=m["pretrained"], mode=mode,
                     head_hidden=m["head_hidden"], weights=weights, caption=caption, seed=params["seed"])


def processes_for(train_params: dict, n_gpus: int) -> int:
    """Training processes: ``train.processes`` when set, else one per GPU the job was given."""
    return int(train_params.get("processes") or max(1, n_gpus))


def main(input, output, params, wildcards, threads, resources) -> None:
    threads_for_torch(threads)
    if wildcards.get("model", "base") == "base":
        spec_for(params, "full", None, None).to_json(output["spec"])
        return
    mode, caption = wildcards["model"].split("-", 1)
    cfg = TrainConfig.from_dict({**params["train"], "seed": params["seed"]})
    spec = spec_for(params, mode, caption, None)
    job = launch.make_job(spec, cfg, input["observations"], input["captions"], output["weights"], output["metrics"],
                          params["ckpt_dir"])
    n_gpus = int(resources.get("gpu", 0))
    with gpus.claim(n_gpus):  # the torchrun workers inherit the claimed GPUs
        launch.run(job, processes_for(params["train"], n_gpus), threads)
    spec.weights = str(Path(output["weights"]))
    spec.to_json(output["spec"])
    training_curves(pd.read_csv(output["metrics"]), output["curves"], title=wildcards["model"])


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards, snakemake.threads,  # noqa: F821
             snakemake.resources)  # noqa: F821
