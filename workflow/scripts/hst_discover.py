"""Discovery: ask MAST which HST products to download, write the plan and its rejects."""

from skytext.core.contracts import PROPOSALS, read_table
from skytext.sources.mast import build_plan
from skytext.core.smk import log_to


def main(proposals: str, hst: dict, shards: int, seed: int, out_plan: str, out_rejects: str) -> None:
    plan, rejects = build_plan(hst, read_table(proposals, PROPOSALS), shards, seed)
    plan.to_parquet(out_plan, index=False)
    rejects.to_parquet(out_rejects, index=False)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(snakemake.input.proposals, p.hst, p.shards, p.seed, snakemake.output.plan, snakemake.output.rejects)
