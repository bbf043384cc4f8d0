"""Entry script for spectra_embed_text: embed every summary, pool per source (embed/text.npy)."""

import numpy as np
import pandas as pd

from skytext.core.contracts import REJECTS, conform
from skytext.core.smk import log_to, threads_for_torch
from skytext.spectra.texts import embed, pool


def main(input, output, params, threads: int) -> None:
    threads_for_torch(threads)
    texts = pd.concat([pd.read_parquet(p) for p in input["texts"]], ignore_index=True).sort_values("text_id")
    vec, ids, rej = embed(texts.reset_index(drop=True), params["text_encoder"], params["llm"])
    sources = pd.read_parquet(input["sources"])
    pooled, meta = pool(vec, ids["text_id"], pd.read_parquet(input["links"]), sources)
    np.save(output["papers"], vec)
    ids.astype("string").to_parquet(output["paper_ids"], index=False)
    np.save(output["text"], pooled)
    meta.to_parquet(output["text_ids"], index=False)
    prior = [pd.read_parquet(p) for p in input["rejects"]]
    allrej = pd.concat([conform(r, REJECTS) for r in [*prior, rej] if len(r)] or [rej], ignore_index=True)
    allrej[[c.name for c in REJECTS]].to_parquet(output["rejects"], index=False)
    print(f"{len(vec)} texts embedded (dim {vec.shape[1]}), {len(meta)} of {len(sources)} sources have text, "
          f"{len(allrej)} rejects")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
