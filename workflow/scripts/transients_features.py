"""Entry point of rule transients_features; the logic is skytext.transients.jobs.features."""

from skytext.core.smk import log_to
from skytext.transients import jobs

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        jobs.features(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
