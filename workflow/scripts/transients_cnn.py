"""Entry point of rule transients_cnn; the logic is skytext.transients.jobs.cnn."""

from skytext.core.smk import log_to
from skytext.transients import jobs

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        jobs.cnn(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
