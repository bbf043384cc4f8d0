"""Entry point of rule transients_repeat; the logic is skytext.transients.jobs.repeat."""

from skytext.core.smk import log_to
from skytext.transients import jobs

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        jobs.repeat(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
