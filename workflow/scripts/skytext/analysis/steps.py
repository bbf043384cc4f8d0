"""One function per rule of the analysis study (the entry scripts in ``workflow/scripts/analysis_*.py`` call
these): read the prepared set (``embeddings.npy`` + ``objects.parquet`` + ``counts.json``), compute, write."""

from __future__ import annotations

import json
import logging
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.core.contracts import rejects_frame

log = logging.getLogger(__name__)


def _json(obj, path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")


def read_prepared(prefix: str | Path) -> tuple[np.ndarray, pd.DataFrame, dict]:
    prefix = Path(prefix)
    X = np.load(prefix / "embeddings.npy", allow_pickle=False)
    objects = pd.read_parquet(prefix / "objects.parquet")
    counts = json.loads((prefix / "counts.json").read_text())
    return X, objects, counts


def prepare(entry: dict, cat: dict, embedding_path: str, catalogue_path: str, test_fraction: float, seed: int,
            out_dir: str | Path) -> dict:
    """Load and check a set, join its catalogue, split by object/group; write the prepared set."""
    from skytext.analysis.catalogue import join, load_catalogue
    from skytext.analysis.loaders import load_set

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    es = load_set(entry, embedding_path)
    objects, counts = join(es, entry, cat, load_catalogue(cat, catalogue_path), test_fraction, seed)
    counts.update(kind=entry["kind"], format=entry["format"], group=entry["group"], thumbnail=entry["thumbnail"],
                  pair_by=entry["pair_by"],
                  n_train=int((objects["split"] == "train").sum()), n_test=int((objects["split"] == "test").sum()))
    np.save(out / "embeddings.npy", es.X)
    objects.to_parquet(out / "objects.parquet", index=False)
    rejects_frame(es.rejects).to_parquet(out / "rejects.parquet", index=False)
    _json(counts, out / "counts.json")
    log.info("%s: %s", entry["name"], {k: v for k, v in counts.items() if k.startswith("n_")})
    return counts


def probes(prefix, cfg: dict, seed: int, out: dict) -> pd.DataFrame:
    from skytext.analysis.probes import run_probes

    X, objects, counts = read_prepared(prefix)
    table, preds, notes = run_probes(X, objects, list(counts["properties"]), list(counts["classes"]), cfg, seed,
                                     counts["set"])
    table.to_csv(out["probes"], index=False)
    preds.to_parquet(out["predictions"], index=False)
    _json({"set": counts["set"], "notes": notes}, out["notes"])
    return table


def umap(prefix, cfg: dict, seed: int, out: dict) -> pd.DataFrame:
    from skytext.analysis.umaps import fit_umap

    X, objects, counts = read_prepared(prefix)
    coords, notes = fit_umap(X, objects["id"].to_numpy(), cfg, seed)
    coords.to_parquet(out["coords"], index=False)
    _json({"set": counts["set"], "notes": notes}, out["notes"])
    return coords


def correlate(prefixes: list, predictions: list[str], coords: list[str], out: dict) -> pd.DataFrame:
    """Spearman of each property with the linear projection and UMAP axes, every set; the comparison chart."""
    from skytext.analysis import plots
    from skytext.analysis.correlations import correlations

    parts = []
    for prefix, pred, xy in zip(prefixes, predictions, coords):
        _, objects, counts = read_prepared(prefix)
        parts.append(correlations(counts["set"], objects, list(counts["properties"]), pd.read_parquet(pred),
                                  pd.read_parquet(xy)))
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(out["table"], index=False)
    lin = table[table["measure"] == "linear_projection"].assign(value=lambda t: t["spearman"].abs())
    plots.grouped_bars(lin, "value", out["figure"],
                       "|Spearman| of each property with its best linear projection (held-out)", "|rho|")
    return table


def search(prefixes: list, cfg: dict, seed: int, out: dict) -> pd.DataFrame:
    """Top-k cosine neighbours of a few query objects per class, every set; one strip figure per set."""
    from skytext.analysis import plots
    from skytext.analysis.search import pick_queries, similar

    Path(out["figures"]).mkdir(parents=True, exist_ok=True)
    parts = []
    for prefix in prefixes:
        X, objects, counts = read_prepared(prefix)
        class_col = next(iter(counts["classes"]), None)
        thumb = counts["thumbnail"]
        columns = list(dict.fromkeys(c for c in [class_col, thumb, *counts["properties"]] if c))
        queries = pick_queries(objects, class_col, cfg["per_class"], cfg["max_queries"], seed)
        table = similar(X, objects, queries, cfg["k"], columns)
        table.insert(0, "set", counts["set"])
        plots.search_strip(table, class_col, thumb, cfg["k"], Path(out["figures"]) / f"{_safe(counts['set'])}.png")
        parts.append(table.astype({"query_id": str, "neighbour_id": str}))
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(out["table"], index=False)
    return table


def pair_view(X: np.ndarray, objects: pd.DataFrame, counts: dict):
    """A set as it is paired with others: by id, or averaged over the rows sharing ``pair_by``."""
    key = counts.get("pair_by")
    if not key:
        return X, objects, counts
    keys = objects[key]
    ok = keys.notna().to_numpy()
    codes, uniq = pd.factorize(keys[ok])
    sums = np.zeros((len(uniq), X.shape[1]), np.float64)
    np.add.at(sums, codes, X[ok])
    mean = (sums / np.bincount(codes)[:, None]).astype(np.float32)
    values = uniq.to_numpy()
    kind = "int" if values.dtype.kind in "iu" else "str"
    return mean, pd.DataFrame({"id": values}), {**counts, "id_type": kind}


def pairs(prefixes: list[str], cfg: dict, seed: int, out: dict) -> pd.DataFrame:
    from skytext.analysis import plots
    from skytext.analysis.similarity import compare

    loaded = [pair_view(*read_prepared(p)) for p in prefixes]
    names = [c["set"] for _, _, c in loaded]
    rows, cosines = [], []
    for (Xa, oa, ca), (Xb, ob, cb) in combinations(loaded, 2):
        row, cos = compare(ca["set"], oa["id"].to_numpy(), Xa, ca["id_type"], cb["set"], ob["id"].to_numpy(), Xb,
                           cb["id_type"], cfg, seed)
        rows.append(row)
        if cos is not None:
            cosines.append(cos)
    table = pd.DataFrame(rows, columns=["set_a", "set_b", "n_a", "n_b", "n_shared", "n_compared", "only_in_a",
                                        "only_in_b", "cka_linear", "mutual_knn", "cosine_mean", "cosine_median",
                                        "note"])
    table.to_csv(out["table"], index=False)
    cos = pd.concat(cosines, ignore_index=True) if cosines else pd.DataFrame(
        {"set_a": pd.Series(dtype=str), "set_b": pd.Series(dtype=str), "id": pd.Series(dtype=str),
         "cosine": pd.Series(dtype=float)})
    cos.to_parquet(out["cosines"], index=False)
    plots.pair_heatmaps(table, names, out["figure"])
    return table


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def summary(prefixes: list[str], probe_files: list[str], coord_files: list[str], note_files: list[str],
            pairs_file: str, skipped: list[dict], out: dict) -> dict:
    """Tables and figures comparing every set: probes.csv, the kNN R² chart, UMAP panels per property and per
    class column, and summary.json / summary.md (counts, skipped sets, notes)."""
    from skytext.analysis import plots

    counts = [read_prepared(p)[2] for p in prefixes]
    objects = [pd.read_parquet(Path(p) / "objects.parquet") for p in prefixes]
    probes_all = pd.concat([pd.read_csv(f) for f in probe_files], ignore_index=True)
    probes_all.to_csv(out["probes"], index=False)
    knn_r2 = probes_all[(probes_all["method"] == "knn") & (probes_all["metric"] == "r2")]
    plots.grouped_bars(knn_r2, "value", out["knn_figure"], "zero-shot kNN R² (95 % bootstrap CI)", "R²",
                       "ci_lo", "ci_hi", ymin=-0.5)
    maps = {c["set"]: pd.read_parquet(f).merge(o, on="id", how="left")
            for c, f, o in zip(counts, coord_files, objects)}
    for key in ("umap_dir", "class_dir"):
        Path(out[key]).mkdir(parents=True, exist_ok=True)
    units = {k: v for c in counts for k, v in c["units"].items()}
    for prop in dict.fromkeys(p for c in counts for p in c["properties"]):
        sub = {c["set"]: maps[c["set"]] for c in counts if prop in c["properties"]}
        plots.umap_property(sub, prop, units.get(prop, ""), Path(out["umap_dir"]) / f"{_safe(prop)}.png")
    for col in dict.fromkeys(k for c in counts for k in c["classes"]):
        sub = {c["set"]: maps[c["set"]] for c in counts if col in c["classes"]}
        plots.umap_classes(sub, col, Path(out["class_dir"]) / f"{_safe(col)}.png")
    notes = {}
    for f in note_files:
        n = json.loads(Path(f).read_text())
        notes.setdefault(n["set"], []).extend(n["notes"])
    result = {"sets": counts, "skipped": skipped, "notes": notes,
              "pairs": pd.read_csv(pairs_file).to_dict(orient="records")}
    _json(result, out["json"])
    knn_bacc = probes_all[(probes_all["method"] == "knn") & (probes_all["metric"] == "balanced_accuracy")]
    Path(out["markdown"]).write_text(_markdown(result, knn_r2, knn_bacc))
    return result


def _markdown(result: dict, knn_r2: pd.DataFrame, knn_bacc: pd.DataFrame) -> str:
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
        for n in notes:
            lines.append(f"- {name}: {n}")
    for c in result["sets"]:
        for n in c["notes"]:
            lines.append(f"- {c['set']}: {n}")
    return "\n".join(lines) + "\n"


def limit_threads(threads: int):
    """Keep BLAS/OpenMP (numpy, scikit-learn, faiss, numba) to the cores Snakemake gave the job."""
    import os

    from threadpoolctl import threadpool_limits

    os.environ["NUMBA_NUM_THREADS"] = str(max(1, int(threads)))
    try:
        import faiss

        faiss.omp_set_num_threads(max(1, int(threads)))
    except ImportError:
        pass
    return threadpool_limits(max(1, int(threads)))
