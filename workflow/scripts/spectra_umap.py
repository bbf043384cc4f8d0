"""Entry script for spectra_umap: a 2-D UMAP of the shared space coloured by class and a few variables."""

import numpy as np
import pandas as pd

from skytext.core.smk import log_to
from skytext.spectra.plots import umap_panels


def main(input, output, params) -> None:
    import umap

    x = np.load(input["shared"])
    ids = pd.read_parquet(input["shared_ids"])
    src = pd.read_parquet(input["sources"]).set_index("source_id").loc[ids["source_id"]].reset_index()
    xy = umap.UMAP(n_neighbors=min(params["umap"]["n_neighbors"], len(x) - 1), min_dist=params["umap"]["min_dist"],
                   metric="cosine", random_state=params["seed"], n_jobs=1).fit_transform(x)
    umap_panels(xy, src, output["plot"], ["powlaw_nh", "hard_hm", "src_cnts_aper_b"])


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
