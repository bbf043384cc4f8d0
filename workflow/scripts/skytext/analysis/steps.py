"""One function per rule of the analysis study, called by the entry script named after the rule with plain
values (file paths, the config leaves the rule reads, seed, threads): read the prepared sets
(``embeddings.npy`` + ``objects.parquet`` + ``counts.json``), compute, write. The summary rule's function is
:func:`skytext.analysis.summary.summarise_sets`."""

from __future__ import annotations

import json
import logging
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.core.contracts import rejects_frame

log = logging.getLogger(__name__)


def write_json(obj, path) -> None:
    """``obj`` as indented JSON at ``path`` (non-JSON values as strings)."""
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")


def read_prepared(embeddings, objects, counts) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """(X, objects table, counts) of one prepared set."""
    X = np.load(embeddings, allow_pickle=False)
    return X, pd.read_parquet(objects), json.loads(Path(counts).read_text())


def limit_threads(threads: int):
    """A context keeping BLAS/OpenMP (numpy, scikit-learn, faiss, numba) to the cores Snakemake gave the job."""
    import os

    from threadpoolctl import threadpool_limits

    os.environ["NUMBA_NUM_THREADS"] = str(max(1, int(threads)))
    try:
        import faiss

        faiss.omp_set_num_threads(max(1, int(threads)))
    except ImportError:
        pass
    return threadpool_limits(max(1, int(threads)))


def prepare_set(entry: dict, catalogue: dict, embeddings: str, catalogue_file: str, test_fraction: float,
                seed: int, out_embeddings: str, out_objects: str, out_counts: str, out_rejects: str) -> dict:
    """Load and check one set, join its catalogue (stop when nothing joins), split by object/group; write the
    prepared set and return its counts."""
    from skytext.analysis.catalogue import check_overlap, join, load_catalogue
    from skytext.analysis.loaders import load_set

    es = load_set(entry, embeddings)
    table = load_catalogue(catalogue, catalogue_file)
    objects, counts = join(es, entry, catalogue, table, test_fraction, seed)
    check_overlap(counts, es.ids, table[catalogue["id"]].to_numpy(), embeddings, catalogue_file, catalogue["id"])
    counts.update(kind=entry["kind"], format=entry["format"], group=entry["group"], thumbnail=entry["thumbnail"],
                  pair_by=entry["pair_by"],
                  n_train=int((objects["split"] == "train").sum()), n_test=int((objects["split"] == "test").sum()))
    Path(out_counts).parent.mkdir(parents=True, exist_ok=True)
    np.save(out_embeddings, es.X)
    objects.to_parquet(out_objects, index=False)
    rejects_frame(es.rejects).to_parquet(out_rejects, index=False)
    write_json(counts, out_counts)
    log.info("%s: %s", entry["name"], {k: v for k, v in counts.items() if k.startswith("n_")})
    return counts


def probe_set(embeddings: str, objects: str, counts: str, probes: dict, seed: int, threads: int, out_probes: str,
              out_predictions: str, out_notes: str) -> pd.DataFrame:
    """kNN, linear and MLP probes of one set (``probes``: the ``analysis.probes`` leaves they read); writes the
    scores, the test predictions and the notes."""
    from skytext.analysis.probes import run_probes

    X, table, c = read_prepared(embeddings, objects, counts)
    with limit_threads(threads):
        scores, preds, notes = run_probes(X, table, list(c["properties"]), list(c["classes"]), probes, seed, c["set"])
    scores.to_csv(out_probes, index=False)
    preds.to_parquet(out_predictions, index=False)
    write_json({"set": c["set"], "notes": notes}, out_notes)
    return scores


def umap_set(embeddings: str, objects: str, counts: str, umap: dict, seed: int, threads: int, out_coords: str,
             out_notes: str) -> pd.DataFrame:
    """One seeded UMAP fit of one set (``umap``: the ``analysis.umap`` leaves); writes coordinates and notes."""
    from skytext.analysis.umaps import fit_umap

    X, table, c = read_prepared(embeddings, objects, counts)
    with limit_threads(threads):
        coords, notes = fit_umap(X, table["id"].to_numpy(), umap, seed)
    coords.to_parquet(out_coords, index=False)
    write_json({"set": c["set"], "notes": notes}, out_notes)
    return coords


def correlate_sets(counts: list[str], objects: list[str], predictions: list[str], coords: list[str], out_table: str,
                   out_figure: str) -> pd.DataFrame:
    """Spearman of each property with the linear projection and UMAP axes, every set; the comparison chart."""
    from skytext.analysis import plots
    from skytext.analysis.correlations import correlations

    parts = []
    for c_file, o_file, pred, xy in zip(counts, objects, predictions, coords):
        c = json.loads(Path(c_file).read_text())
        parts.append(correlations(c["set"], pd.read_parquet(o_file), list(c["properties"]), pd.read_parquet(pred),
                                  pd.read_parquet(xy)))
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(out_table, index=False)
    lin = table[table["measure"] == "linear_projection"].assign(value=lambda t: t["spearman"].abs())
    plots.grouped_bars(lin, "value", out_figure,
                       "|Spearman| of each property with its best linear projection (held-out)", "|rho|")
    return table


def safe_name(name: str) -> str:
    """``name`` usable as a file name (other characters as ``_``)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def search_sets(counts: list[str], embeddings: list[str], objects: list[str], search: dict, seed: int,
                threads: int, out_table: str, out_figures: str) -> pd.DataFrame:
    """Top-k cosine neighbours of a few query objects per class, every set (``search``: per_class, max_queries,
    k); one strip figure per set."""
    from skytext.analysis import plots
    from skytext.analysis.search import pick_queries, similar

    Path(out_figures).mkdir(parents=True, exist_ok=True)
    parts = []
    for e_file, o_file, c_file in zip(embeddings, objects, counts):
        X, table, c = read_prepared(e_file, o_file, c_file)
        class_col = next(iter(c["classes"]), None)
        thumb = c["thumbnail"]
        columns = list(dict.fromkeys(col for col in [class_col, thumb, *c["properties"]] if col))
        queries = pick_queries(table, class_col, search["per_class"], search["max_queries"], seed)
        with limit_threads(threads):
            found = similar(X, table, queries, search["k"], columns)
        found.insert(0, "set", c["set"])
        plots.search_strip(found, class_col, thumb, search["k"], Path(out_figures) / f"{safe_name(c['set'])}.png")
        parts.append(found.astype({"query_id": str, "neighbour_id": str}))
    result = pd.concat(parts, ignore_index=True)
    result.to_csv(out_table, index=False)
    return result


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


PAIR_COLUMNS = ["set_a", "set_b", "n_a", "n_b", "n_shared", "n_compared", "only_in_a", "only_in_b", "cka_linear",
                "mutual_knn", "cosine_mean", "cosine_median", "note"]


def pair_sets(counts: list[str], embeddings: list[str], objects: list[str], pairs: dict, seed: int, threads: int,
              out_table: str, out_figure: str, out_cosines: str) -> pd.DataFrame:
    """CKA, mutual kNN and per-object cosine for every pair of sets sharing objects (``pairs``: knn_k,
    max_objects); the table, the heatmaps and the per-object cosines."""
    from skytext.analysis import plots
    from skytext.analysis.similarity import compare

    loaded = [pair_view(*read_prepared(e, o, c)) for e, o, c in zip(embeddings, objects, counts)]
    rows, cosines = [], []
    with limit_threads(threads):
        for (Xa, oa, ca), (Xb, ob, cb) in combinations(loaded, 2):
            row, cos = compare(ca["set"], oa["id"].to_numpy(), Xa, ca["id_type"], cb["set"], ob["id"].to_numpy(), Xb,
                               cb["id_type"], pairs, seed)
            rows.append(row)
            if cos is not None:
                cosines.append(cos)
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    table.to_csv(out_table, index=False)
    cos = pd.concat(cosines, ignore_index=True) if cosines else pd.DataFrame(
        {"set_a": pd.Series(dtype=str), "set_b": pd.Series(dtype=str), "id": pd.Series(dtype=str),
         "cosine": pd.Series(dtype=float)})
    cos.to_parquet(out_cosines, index=False)
    plots.pair_heatmaps(table, [c["set"] for _, _, c in loaded], out_figure)
    return table
