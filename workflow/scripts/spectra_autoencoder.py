"""Entry script of rule spectra_autoencoder: train the transformer AE on the train split; embed every source."""

from skytext.core.smk import log_to
from skytext.spectra.ae import run_autoencoder

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_autoencoder(
            counts=snakemake.input.counts,  # noqa: F821
            sources=snakemake.input.sources,  # noqa: F821
            model_out=snakemake.output.model,  # noqa: F821
            history_out=snakemake.output.history,  # noqa: F821
            latent_out=snakemake.output.latent,  # noqa: F821
            augmented_out=snakemake.output.augmented,  # noqa: F821
            spectral_out=snakemake.output.spectral,  # noqa: F821
            spectral_ids_out=snakemake.output.spectral_ids,  # noqa: F821
            autoencoder=dict(snakemake.params.autoencoder),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            checkpoint=snakemake.params.checkpoint,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
        )
