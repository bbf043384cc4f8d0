"""Entry point of rule transients_meerlicht_fetch; the logic is skytext.transients.jobs.meerlicht_fetch."""

from skytext.core.smk import log_to
from skytext.transients import jobs

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        jobs.meerlicht_fetch(snakemake.output, snakemake.params)  # noqa: F821
