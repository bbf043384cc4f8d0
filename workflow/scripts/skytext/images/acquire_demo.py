"""The image study's demo source: a seeded synthetic sky (proposals, then observation shards) written in the
contracts the HST source writes."""

from __future__ import annotations

from skytext.core.contracts import OBSERVATIONS, rejects_frame, write_table
from skytext.sources.sky_demo import DemoConfig, observations_for_shard, write_proposals


def run_demo_proposals(demo: dict, seed: int, out_proposals: str, out_rejects: str) -> None:
    """Rule ``demo_proposals``: the demo sky's proposals (``demo``: the ``images.demo`` section)."""
    write_proposals(DemoConfig.from_config(demo, seed), out_proposals)
    rejects_frame([]).to_parquet(out_rejects, index=False)  # the generator rejects nothing


def run_demo_observations(demo: dict, seed: int, shard: int, shards: int, image_dir: str, out_observations: str,
                          out_rejects: str) -> None:
    """Rule ``demo_observations``: render one shard's images into ``image_dir``; write its observations."""
    obs = observations_for_shard(DemoConfig.from_config(demo, seed), shard, shards, image_dir)
    write_table(obs, out_observations, OBSERVATIONS, "demo observations")
    rejects_frame([]).to_parquet(out_rejects, index=False)  # the generator rejects nothing
