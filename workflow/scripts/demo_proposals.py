"""Entry script for the demo_proposals rule: the demo sky's proposals (one job)."""

from skytext.core.contracts import rejects_frame
from skytext.core.smk import log_to
from skytext.sources.sky_demo import DemoConfig, write_proposals


def main(output, params) -> None:
    write_proposals(DemoConfig.from_config(params["demo"], params["seed"]), output["proposals"])
    rejects_frame([]).to_parquet(output["rejects"], index=False)  # the generator rejects nothing


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.output, snakemake.params)  # noqa: F821
