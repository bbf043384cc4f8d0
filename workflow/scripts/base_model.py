"""Entry script for the base_model rule: the untrained model's spec (no weights)."""

from skytext.align.models import ModelSpec
from skytext.core.smk import log_to


def main(output, params) -> None:
    ModelSpec.from_config(params["model"], mode="full", caption=None, seed=params["seed"]).to_json(output["spec"])


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.output, snakemake.params)  # noqa: F821
