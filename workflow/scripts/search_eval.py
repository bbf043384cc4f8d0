"""Entry script for the search_eval rule: search quality of one model (class queries, calibrated scores, the
"no good match" threshold chosen on the val split); see skytext.eval.explore.search_evaluation."""

import json

import numpy as np
import pandas as pd

from skytext.core.smk import log_to, threads_for_torch
from skytext.core.vocab import read_lines
from skytext.eval.explore import search_evaluation, search_table_row
from skytext.eval.query import load_model, read_templates


def ground_truth(observations: pd.DataFrame) -> dict | None:
    """obs_id -> true class on the demo sky; ``None`` where there is none (HST)."""
    if "gt_class" not in observations or observations["gt_class"].isna().all():
        return None
    return dict(zip(observations["obs_id"], observations["gt_class"]))


def main(input, output, params, threads) -> None:
    threads_for_torch(threads)
    model, tokenizer, _ = load_model(input["spec"])
    val = (np.load(input["val_images"]).astype(np.float32), pd.read_parquet(input["val_image_ids"]))
    test = (np.load(input["test_images"]).astype(np.float32), pd.read_parquet(input["test_image_ids"]))
    res = search_evaluation(model, tokenizer, val, test, ground_truth(pd.read_parquet(input["observations"])),
                            read_templates(input["templates"]), read_lines(input["background"]),
                            read_lines(input["null_queries"]))
    res["model"] = params["model"]
    with open(output["json"], "w") as fh:
        json.dump(res, fh, indent=1)
    pd.DataFrame([search_table_row(res)]).to_csv(output["table"], index=False)
    print(json.dumps(search_table_row(res)))


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params, snakemake.threads)  # noqa: F821
