"""Entry script for the train rule (and base_model, which only writes the untrained model's spec)."""

from pathlib import Path

import pandas as pd

from skytext.models import ModelSpec
from skytext.plots import training_curves
from skytext.smk import log_to, threads_for_torch
from skytext.train import TrainConfig, train


def spec_for(params, mode: str, caption: str | None, weights: str | None) -> ModelSpec:
    m = params["model"]
    return ModelSpec(arch=m["arch"], config_file=m["config_file"], pretrained=m["pretrained"], mode=mode,
                     head_hidden=m["head_hidden"], weights=weights, caption=caption, seed=params["seed"])


def main(input, output, params, wildcards, threads) -> None:
    threads_for_torch(threads)
    if wildcards.get("model", "base") == "base":
        spec_for(params, "full", None, None).to_json(output["spec"])
        return
    mode, caption = wildcards["model"].split("-", 1)
    obs = pd.read_parquet(input["observations"])
    caps = pd.read_parquet(input["captions"])
    texts = dict(zip(caps["proposal_id"].astype(str), caps["text"].astype(str)))
    usable = obs["proposal_id"].astype(str).isin(set(texts))
    print(f"{int((~usable).sum())} observations have no {caption} caption and are left out (see captions rejects)")
    obs = obs[usable]
    cfg = TrainConfig.from_dict({**params["train"], "seed": params["seed"]})
    spec = spec_for(params, mode, caption, None)
    metrics = train(spec, cfg, obs[obs["split"] == "train"], obs[obs["split"] == "val"], texts,
                    output["weights"], output["metrics"], params["ckpt_dir"])
    spec.weights = str(Path(output["weights"]))
    spec.to_json(output["spec"])
    training_curves(metrics, output["curves"], title=wildcards["model"])


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards, snakemake.threads)  # noqa: F821
