"""Entry script for the demo sky rules: proposals (one job) and observations (one job per shard)."""

from skytext.core.contracts import OBSERVATIONS, rejects_frame, write_table
from skytext.sources.sky_demo import DemoConfig, observations_for_shard, write_proposals
from skytext.core.smk import log_to


def demo_config(params) -> DemoConfig:
    d = params["demo"]
    return DemoConfig(d["n_proposals"], d["min_images"], d["max_images"], d["image_size"], params["seed"])


def main(output, params, wildcards) -> None:
    cfg = demo_config(params)
    if "shard" in wildcards.keys():
        obs = observations_for_shard(cfg, int(wildcards["shard"]), params["shards"], params["image_dir"])
        write_table(obs, output["observations"], OBSERVATIONS, "demo observations")
    else:
        write_proposals(cfg, output["proposals"])
    rejects_frame([]).to_parquet(output["rejects"], index=False)  # the generator rejects nothing


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.output, snakemake.params, snakemake.wildcards)  # noqa: F821
