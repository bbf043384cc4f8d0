"""Entry script for spectra_dataset: gather shards, read every PHA, reject bad input, split by source."""

import json

import numpy as np
import pandas as pd

from skytext.core.smk import log_to
from skytext.sources.xray_demo import VARIABLES
from skytext.spectra.dataset import build_spectra_dataset


def main(input, output, params) -> None:
    tables, counts, summary = build_spectra_dataset([pd.read_parquet(p) for p in input["observations"]],
                                    [pd.read_parquet(p) for p in input["rejects"]] + [pd.read_parquet(input["catalog_rejects"])],
                                    pd.read_parquet(input["catalog"]), pd.read_parquet(input["papers"]),
                                    pd.read_parquet(input["links"]), list(VARIABLES), params["dataset"],
                                    params["n_channels"], params["seed"])
    for name, df in tables.items():
        df.to_parquet(output[name], index=False)
    np.save(output["counts"], counts)
    with open(output["summary"], "w") as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps(summary))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
