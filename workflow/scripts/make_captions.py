"""Entry script for the captions rule."""

import pandas as pd

from skytext.core.captions import caption_table
from skytext.core.contracts import rejects_frame
from skytext.core.smk import log_to


def main(input, output, params, wildcards) -> None:
    props = pd.read_parquet(input["proposals"])
    summaries = pd.read_parquet(input["summaries"]) if "summaries" in input.keys() else None
    caps = caption_table(wildcards["caption"], props, summaries, params["category_prefix"])
    caps.to_parquet(output["captions"], index=False)
    missing = sorted(set(props["proposal_id"]) - set(caps["proposal_id"]))
    rejects_frame([{"record_type": "proposal", "record_id": p, "stage": "captions", "reason": "no_caption",
                    "detail": f"no {wildcards['caption']} caption for proposal {p}"} for p in missing]).to_parquet(output["rejects"], index=False)
    print(f"{len(caps)} {wildcards['caption']} captions, {len(missing)} proposals without one")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards)  # noqa: F821
