"""Entry script for the dataset rule: gather the shards, reject what cannot be used, split by proposal."""

import json

import pandas as pd

from skytext.core.dataset import build_dataset
from skytext.core.smk import log_to


def main(input, output, params) -> None:
    obs, props, rejects = build_dataset(
        [pd.read_parquet(p) for p in input["observations"]],
        [pd.read_parquet(p) for p in input["rejects"]],
        pd.read_parquet(input["proposals"]),
        pd.read_parquet(input["proposal_rejects"]),
        params["dataset"], params["seed"], params["dataset"]["verify_images"],
    )
    obs.to_parquet(output["observations"], index=False)
    props.to_parquet(output["proposals"], index=False)
    rejects.to_parquet(output["rejects"], index=False)
    summary = {
        "observations": int(len(obs)), "proposals": int(len(props)), "rejects": int(len(rejects)),
        "by_split": {s: {"observations": int((obs["split"] == s).sum()), "proposals": int((props["split"] == s).sum())}
                     for s in ("train", "val", "test")},
        "reject_reasons": {str(k): int(v) for k, v in rejects["reason"].value_counts().items()},
    }
    with open(output["summary"], "w") as fh:
        json.dump(summary, fh, indent=2)
    print(json.dumps(summary))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
