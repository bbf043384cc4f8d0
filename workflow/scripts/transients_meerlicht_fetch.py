"""Entry script of rule transients_meerlicht_fetch: the two files of the MeerLICHT Zenodo record, once."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_meerlicht_fetch

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_meerlicht_fetch(  # noqa: F821
            fetch_json=snakemake.output.fetch,  # noqa: F821
            meerlicht=dict(snakemake.params.meerlicht),  # noqa: F821
        )
