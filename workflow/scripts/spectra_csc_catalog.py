"""Entry script for spectra_csc_catalog: the CSC master-source query (one job)."""

from skytext.core.smk import log_to
from skytext.sources import csc


def main(output, params) -> None:
    catalog, rejects = csc.fetch_catalog(params["csc"])
    catalog.to_parquet(output["catalog"], index=False)
    rejects.to_parquet(output["rejects"], index=False)
    print(f"{len(catalog)} sources, {len(rejects)} rejected")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.output, snakemake.params)  # noqa: F821
