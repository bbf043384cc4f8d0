"""Entry script for the compare rule: every model x caption with the random and oracle baselines in one table
(CSV, JSON, an HTML table shown inline in the report), plus the search evaluation's precision@10 per class."""

import json

import pandas as pd

from skytext.core.smk import log_to
from skytext.eval.plots import retrieval_curves
from skytext.eval.retrieval import comparison_table, oracle, random_result

def images_per_text(result: dict, obs: pd.DataFrame, props: pd.DataFrame):
    """How many images each text query had: recorded in a model result, else counted from the split."""
    if "n_relevant" in result["text_to_image"]:
        return result["text_to_image"]["n_relevant"]
    counts = obs["proposal_id"].value_counts()
    return counts[counts.index.isin(set(props["proposal_id"]))].to_numpy()


def compare(input, output, params) -> None:
    results = {}
    for path in input["results"]:
        with open(path) as fh:
            r = json.load(fh)
        results[f"{r['model']}/{r['caption']}"] = r
    obs = pd.read_parquet(input["observations"])
    obs = obs[obs["split"] == params["split"]]
    props = pd.read_parquet(input["proposals"])
    props = props[props["split"] == params["split"]]
    any_r = next(iter(results.values()))
    results["random"] = random_result(any_r["image_to_text"]["n_candidates"], any_r["text_to_image"]["n_candidates"],
                                      images_per_text(any_r, obs, props), params["eval"], params["seed"])
    orc = oracle(obs.reset_index(drop=True), props, params["eval"], params["seed"])
    if orc is not None:
        results["oracle"] = orc
    table = comparison_table(results)
    table.to_csv(output["table"], index=False)
    search = pd.concat([pd.read_csv(p) for p in input["search"]], ignore_index=True) if input["search"] else None
    with open(output["json"], "w") as fh:
        json.dump({"split": params["split"], "results": results,
                   "search": search.to_dict(orient="records") if search is not None else None}, fh, indent=1)
    write_html(table, search, params["split"], output["html"])
    retrieval_curves(results, output["curves"])
    print(table.to_string())
    if search is not None:
        print(search.to_string())


def write_html(table: pd.DataFrame, search: pd.DataFrame | None, split: str, path: str) -> None:
    """The comparison as a page the report shows inline: retrieval with CIs, then search precision@10."""
    parts = [f"<h3>Retrieval on the {split} split (95 % bootstrap intervals)</h3>",
             table.to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="")]
    if search is not None:
        parts += ["<h3>Search: precision@10 per class query (calibrated scores; threshold chosen on val)</h3>",
                  search.to_html(index=False, float_format=lambda x: f"{x:.2f}", na_rep="")]
    style = ("<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"<!doctype html><html><head><meta charset=\"utf-8\">{style}</head><body>{''.join(parts)}"
                 "</body></html>\n")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        compare(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821


