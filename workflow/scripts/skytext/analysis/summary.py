"""The analysis summary rule's function: the tables and figures that compare every set (probes.csv, the kNN R²
chart, UMAP panels per property and per class column) and summary.json / summary.md (counts, skipped sets,
notes, pairs)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from skytext.analysis.steps import safe_name, write_json


def _panels(counts: list[dict], objects: list[str], coords: list[str], umap_dir: str, class_dir: str) -> None:
    from skytext.analysis import plots

    maps = {c["set"]: pd.read_parquet(f).merge(pd.read_parquet(o), on="id", how="left")
            for c, f, o in zip(counts, coords, objects)}
    for folder in (umap_dir, class_dir):
        Path(folder).mkdir(parents=True, exist_ok=True)
    units = {k: v for c in counts for k, v in c["units"].items()}
    for prop in dict.fromkeys(p for c in counts for p in c["properties"]):
        sub = {c["set"]: maps[c["set"]] for c in counts if prop in c["properties"]}
        plots.umap_property(sub, prop, units.get(prop, ""), Path(umap_dir) / f"{safe_name(prop)}.png")
    for col in dict.fromkeys(k for c in counts for k in c["classes"]):
        sub = {c["set"]: maps[c["set"]] for c in counts if col in c["classes"]}
        plots.umap_classes(sub, col, Path(class_dir) / f"{safe_name(col)}.png")


def summarise_sets(counts: list[str], objects: list[str], probes: list[str], coords: list[str], notes: list[str],
                   pairs: str, skipped: list[dict], out_probes: str, out_knn_figure: str, out_umap_dir: str,
                   out_class_dir: str, out_json: str, out_markdown: str) -> dict:
    """Write every comparison table and figure and the summary (json + markdown); return the summary."""
    from skytext.analysis import plots

    sets = [json.loads(Path(f).read_text()) for f in counts]
    probes_all = pd.concat([pd.read_csv(f) for f in probes], ignore_index=True)
    probes_all.to_csv(out_probes, index=False)
    knn_r2 = probes_all[(probes_all["method"] == "knn") & (probes_all["metric"] == "r2")]
    plots.grouped_bars(knn_r2, "value", out_knn_figure, "zero-shot kNN R² (95 % bootstrap CI)", "R²",
                       "ci_lo", "ci_hi", ymin=-0.5)
    _panels(sets, objects, coords, out_umap_dir, out_class_dir)
    by_set: dict[str, list[str]] = {}
    for f in notes:
        n = json.loads(Path(f).read_text())
        by_set.setdefault(n["set"], []).extend(n["notes"])
    result = {"sets": sets, "skipped": skipped, "notes": by_set,
              "pairs": pd.read_csv(pairs).to_dict(orient="records")}
    write_json(result, out_json)
    knn_bacc = probes_all[(probes_all["method"] == "knn") & (probes_all["metric"] == "balanced_accuracy")]
    Path(out_markdown).write_text(markdown(result, knn_r2, knn_bacc))
    return result


def markdown(result: dict, knn_r2: pd.DataFrame, knn_bacc: pd.DataFrame) -> str:
    """summary.md: counts per set, skipped sets, kNN scores, pairs and notes."""
    lines = ["# analysis summary", "", "| set | kind | catalogue | objects | joined | missing from catalogue | "
             "catalogue rows not in set | non-finite rows excluded |", "|---|---|---|---|---|---|---|---|"]
    for c in result["sets"]:
        lines.append(f"| {c['set']} | {c['kind']} | {c['catalogue']} | {c['n_objects']} | {c['n_joined']} | "
                     f"{c['n_missing_from_catalogue']} | {c['n_catalogue_not_in_set']} | {c['n_nonfinite_excluded']} |")
    if result["skipped"]:
        lines += ["", "Skipped sets:"] + [f"- {s['name']}: {s['reason']}" for s in result["skipped"]]
    lines += ["", "## zero-shot kNN R² (95 % bootstrap CI)", "", "| set | property | R² | CI | n test |",
              "|---|---|---|---|---|"]
    for r in knn_r2.itertuples():
        lines.append(f"| {r.set} | {r.property} | {r.value:.3f} | [{r.ci_lo:.3f}, {r.ci_hi:.3f}] | {r.n_test} |")
    lines += ["", "## zero-shot kNN balanced accuracy (95 % bootstrap CI)", "",
              "| set | class column | balanced accuracy | CI | n test |", "|---|---|---|---|---|"]
    for r in knn_bacc.itertuples():
        lines.append(f"| {r.set} | {r.property} | {r.value:.3f} | [{r.ci_lo:.3f}, {r.ci_hi:.3f}] | {r.n_test} |")
    lines += ["", "## pairs (shared objects)", "", "| set a | set b | shared | linear CKA | mutual kNN | cosine |",
              "|---|---|---|---|---|---|"]
    for r in result["pairs"]:
        if r["n_shared"]:
            lines.append(f"| {r['set_a']} | {r['set_b']} | {r['n_shared']} | {r['cka_linear']:.3f} | "
                         f"{r['mutual_knn']:.3f} | {r['cosine_mean']:.3f} |")
    lines += ["", "## notes", ""]
    for name, notes in result["notes"].items():
        lines += [f"- {name}: {n}" for n in notes]
    for c in result["sets"]:
        lines += [f"- {c['set']}: {n}" for n in c["notes"]]
    return "\n".join(lines) + "\n"
