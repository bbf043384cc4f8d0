"""Entry script for spectra_autoencoder: train the transformer AE on the train split; embed every source."""

import numpy as np
import pandas as pd
import torch

from skytext.core.smk import log_to, threads_for_torch
from skytext.spectra import ae


def main(input, output, params, threads: int) -> None:
    threads_for_torch(threads)
    counts = np.load(input["counts"])
    src = pd.read_parquet(input["sources"])
    split = src["split"].to_numpy()
    model, history = ae.fit(counts[split == "train"], counts[split == "val"], params["autoencoder"], params["seed"],
                            checkpoint=params["checkpoint"])
    torch.save({"state_dict": model.state_dict(), "config": params["autoencoder"], "n_channels": counts.shape[1]},
               output["model"])
    pd.DataFrame(history).to_csv(output["history"], index=False)
    z = ae.encode(model, counts)
    train = z[split == "train"]
    zs = (z - train.mean(0)) / (train.std(0) + 1e-9)  # standardised latent (train statistics)
    np.save(output["latent"], zs.astype(np.float32))
    rng = np.random.default_rng([params["seed"], 17])  # augmentation: Poisson redraws of the observed counts
    aug = [(ae.encode(model, rng.poisson(counts).astype(np.float32)) - train.mean(0)) / (train.std(0) + 1e-9)
           for _ in range(params["autoencoder"]["augment"])]
    np.save(output["augmented"], np.stack(aug).astype(np.float32) if aug else np.zeros((0, *zs.shape), np.float32))
    np.save(output["spectral"], (zs / np.linalg.norm(zs, axis=1, keepdims=True)).astype(np.float32))
    src[["source_id", "split"]].astype("string").to_parquet(output["spectral_ids"], index=False)
    print(f"AE: {len(history)} epochs, final train {history[-1]['train_loss']:.4f} val {history[-1]['val_loss']:.4f}")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
