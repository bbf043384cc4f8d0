"""Entry script of rule spectra_outliers: anomaly rankings (shared, spectral, text, class surprise, combined) and the planted outliers found."""

from skytext.core.smk import log_to
from skytext.spectra.outliers import run_outliers

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_outliers(
            sources=snakemake.input.sources,  # noqa: F821
            spectral=snakemake.input.spectral,  # noqa: F821
            spectral_ids=snakemake.input.spectral_ids,  # noqa: F821
            text=snakemake.input.text,  # noqa: F821
            text_ids=snakemake.input.text_ids,  # noqa: F821
            ensemble=snakemake.input.ensemble,  # noqa: F821
            texts=list(snakemake.input.texts),  # noqa: F821
            links=snakemake.input.links,  # noqa: F821
            table_out=snakemake.output.table,  # noqa: F821
            json_out=snakemake.output.json,  # noqa: F821
            method=snakemake.params.method,  # noqa: F821
            combine=list(snakemake.params.combine),  # noqa: F821
            k=snakemake.params.k,  # noqa: F821
            top_n=snakemake.params.top_n,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
