"""The image study's evaluation: retrieval both ways per model x caption type, then one comparison of every
model with the random and oracle baselines (CSV, JSON, an HTML table for the report, top-k % curves), plus
the search evaluation's precision@10 per class where there is one (demo)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from skytext.eval.plots import retrieval_curves
from skytext.eval.retrieval import comparison_table, evaluate_embeddings, oracle, random_result


def run_evaluate(images: str, image_ids: str, texts: str, text_ids: str, model: str, caption: str, split: str,
                 cfg: dict, seed: int, out_result: str) -> dict:
    """Rule ``evaluate``: retrieval of one model x caption on ``split``; writes and returns the result.

    ``cfg``: the ``images.eval`` leaves recall_at, n_boot, chunk_size.
    """
    res = evaluate_embeddings(np.load(images).astype(np.float32), pd.read_parquet(image_ids),
                              np.load(texts).astype(np.float32), pd.read_parquet(text_ids), cfg, seed)
    res.update(model=model, caption=caption, split=split)
    with open(out_result, "w") as fh:
        json.dump(res, fh, indent=1)
    print(json.dumps({k: res[k]["top10pct"] for k in ("image_to_text", "text_to_image")}))
    return res


def images_per_text(result: dict, obs: pd.DataFrame, props: pd.DataFrame):
    """How many images each text query had: recorded in a model result, else counted from the split."""
    if "n_relevant" in result["text_to_image"]:
        return result["text_to_image"]["n_relevant"]
    counts = obs["proposal_id"].value_counts()
    return counts[counts.index.isin(set(props["proposal_id"]))].to_numpy()


def with_baselines(results: dict[str, dict], obs: pd.DataFrame, props: pd.DataFrame, cfg: dict,
                   seed: int) -> dict[str, dict]:
    """``results`` (``model/caption`` -> result) plus the ``random`` row and, on the demo, the ``oracle`` row.

    ``obs``/``props``: the evaluated split's observations and proposals; ``cfg``: recall_at, n_boot.
    """
    out = dict(results)
    any_r = next(iter(results.values()))
    out["random"] = random_result(any_r["image_to_text"]["n_candidates"], any_r["text_to_image"]["n_candidates"],
                                  images_per_text(any_r, obs, props), cfg, seed)
    orc = oracle(obs.reset_index(drop=True), props, cfg, seed)
    if orc is not None:
        out["oracle"] = orc
    return out


def comparison_html(table: pd.DataFrame, search: pd.DataFrame | None, split: str) -> str:
    """The comparison as a page the report shows inline: retrieval with CIs, then search precision@10."""
    parts = [f"<h3>Retrieval on the {split} split (95 % bootstrap intervals)</h3>",
             table.to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="")]
    if search is not None:
        parts += ["<h3>Search: held-out class and off-topic queries (word-matched anchors; threshold chosen on "
                  "val, rates on this split)</h3>",
                  search.to_html(index=False, float_format=lambda x: f"{x:.2f}", na_rep="")]
    style = ("<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>")
    return f"<!doctype html><html><head><meta charset=\"utf-8\">{style}</head><body>{''.join(parts)}</body></html>\n"


def with_search_columns(table: pd.DataFrame, search: pd.DataFrame | None) -> pd.DataFrame:
    """The comparison table with each model's search evaluation joined on as ``search_*`` columns (the model is
    the part of a row's name before "/"; the random and oracle rows, and runs without a search table, get none)."""
    if search is None or search.empty or "model" not in search:
        return table
    cols = {c: f"search_{c}" for c in search.columns if c != "model"}
    extra = search.rename(columns=cols).rename(columns={"model": "_search_model"})
    key = table["model"].astype(str).str.split("/").str[0]
    out = table.assign(_search_model=key).merge(extra, on="_search_model", how="left")
    return out.drop(columns="_search_model")


def _split_rows(path: str, split: str) -> pd.DataFrame:
    df = pd.read_parquet(path)
    return df[df["split"] == split]


def run_compare(results: list[str], observations: str, proposals: str, search: list[str], split: str, cfg: dict,
                seed: int, out_json: str, out_table: str, out_html: str, out_curves: str) -> pd.DataFrame:
    """Rule ``compare``: every model result with the baselines in one table (CSV, JSON, HTML, curves);
    ``search``: the search evaluation tables (empty without ground truth). Returns the table."""
    loaded = {}
    for path in results:
        with open(path) as fh:
            r = json.load(fh)
        loaded[f"{r['model']}/{r['caption']}"] = r
    loaded = with_baselines(loaded, _split_rows(observations, split), _split_rows(proposals, split), cfg, seed)
    table = comparison_table(loaded)
    found = pd.concat([pd.read_csv(p) for p in search], ignore_index=True) if search else None
    table = with_search_columns(table, found)
    table.to_csv(out_table, index=False)
    with open(out_json, "w") as fh:
        json.dump({"split": split, "results": loaded,
                   "search": found.to_dict(orient="records") if found is not None else None}, fh, indent=1)
    with open(out_html, "w", encoding="utf-8") as fh:
        fh.write(comparison_html(table, found, split))
    retrieval_curves(loaded, out_curves)
    print(table.to_string())
    if found is not None:
        print(found.to_string())
    return table
