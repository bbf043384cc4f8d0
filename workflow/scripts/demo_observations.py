"""Entry script for the demo_observations rule: the demo sky's observations, one job per shard."""

from skytext.core.contracts import OBSERVATIONS, rejects_frame, write_table
from skytext.core.smk import log_to
from skytext.sources.sky_demo import DemoConfig, observations_for_shard


def main(output, params, wildcards) -> None:
    cfg = DemoConfig.from_config(params["demo"], params["seed"])
    obs = observations_for_shard(cfg, int(wildcards["shard"]), params["shards"], params["image_dir"])
    write_table(obs, output["observations"], OBSERVATIONS, "demo observations")
    rejects_frame([]).to_parquet(output["rejects"], index=False)  # the generator rejects nothing


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.output, snakemake.params, snakemake.wildcards)  # noqa: F821
