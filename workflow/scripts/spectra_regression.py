"""Entry script of rule spectra_regression: the catalogue variables from each feature set and the mixture of experts."""

from skytext.core.smk import log_to
from skytext.spectra.regression import run_regression

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_regression(
            sources=snakemake.input.sources,  # noqa: F821
            spectral_ids=snakemake.input.spectral_ids,  # noqa: F821
            latent=snakemake.input.latent,  # noqa: F821
            text=snakemake.input.text,  # noqa: F821
            text_ids=snakemake.input.text_ids,  # noqa: F821
            ensemble=snakemake.input.ensemble,  # noqa: F821
            variables=snakemake.input.variables,  # noqa: F821
            table_out=snakemake.output.table,  # noqa: F821
            json_out=snakemake.output.json,  # noqa: F821
            plot_out=snakemake.output.plot,  # noqa: F821
            predictions_out=snakemake.output.predictions,  # noqa: F821
            regression=dict(snakemake.params.regression),  # noqa: F821
            text_dim=snakemake.params.text_dim,  # noqa: F821
            split=snakemake.params.split,  # noqa: F821
            n_boot=snakemake.params.n_boot,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
        )
