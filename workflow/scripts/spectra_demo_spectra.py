"""Entry script for spectra_demo_spectra: one shard of the demo's PHA spectra."""

from pathlib import Path

from skytext.core.contracts import rejects_frame
from skytext.core.smk import log_to
from skytext.sources import xray_demo
from skytext.sources.ogip import load_response


def main(input, output, params, shard: int) -> None:
    demo, seed = params["demo"], params["seed"]
    resp = load_response(input["response"], params["n_channels"])
    sky = xray_demo.simulate(demo, seed, resp)
    Path(params["spec_dir"]).mkdir(parents=True, exist_ok=True)
    obs = xray_demo.acquire_shard(sky, resp, demo, seed, shard, params["shards"], params["spec_dir"])
    obs.to_parquet(output["observations"], index=False)
    rejects_frame([]).to_parquet(output["rejects"], index=False)
    print(f"shard {shard}: {len(obs)} spectra")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, int(snakemake.wildcards.spec_shard))  # noqa: F821
