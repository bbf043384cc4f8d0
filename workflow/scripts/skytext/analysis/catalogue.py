"""Catalogues of properties joined on id to an embedding set, with everything that does not join counted.

A catalogue is read (Parquet, CSV or FITS), JSON columns are expanded to ``<column>.<key>``, transforms are
evaluated with :mod:`skytext.analysis.expr`, and the configured numeric ``properties`` and categorical
``classes`` are kept. The join never guesses: ids that are not unique or whose type differs from the
embedding set's (int vs string) stop with one line, and so does a catalogue that matches none of the set's ids
(:func:`check_overlap`: both files, the id column, an example id of each side); fewer than half joined is a
warning. Objects missing on either side are counted, all-missing properties are dropped with a note, and every
embedding row stays in the objects table (``in_catalogue``). FITS string columns are read as text.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from skytext.analysis.expr import evaluate
from skytext.analysis.loaders import EmbeddingSet, LoadError, _ids, _read_table, show
from skytext.core.split import split_by_group

log = logging.getLogger(__name__)

class JoinError(ValueError):
    """A catalogue that cannot be joined without guessing (one line)."""


def _expand_json(table: pd.DataFrame, column: str, where: str) -> pd.DataFrame:
    if column not in table.columns:
        raise JoinError(f"{where}: no JSON column {column!r}")
    parsed = [json.loads(v) if isinstance(v, str) and v else {} for v in table[column]]
    wide = pd.DataFrame(parsed, index=table.index).add_prefix(f"{column}.")
    return pd.concat([table.drop(columns=[column]), wide], axis=1)


def load_catalogue(cat: dict, path: str) -> pd.DataFrame:
    """The catalogue ``cat`` (a complete ``analysis.catalogues`` item) read from ``path``: id + columns."""
    try:
        table = _read_table(path)
    except LoadError as exc:
        raise JoinError(str(exc)) from None
    if cat["id"] not in table.columns:
        raise JoinError(f"{path}: no id column {cat['id']!r}")
    for col in cat["json_columns"]:
        table = _expand_json(table, col, path)
    for name, expression in cat["transforms"].items():
        table[name] = evaluate(expression, table)
    missing = [c for c in (cat["properties"] or []) + cat["classes"] if c not in table.columns]
    if missing:
        raise JoinError(f"{path}: no column {missing[0]!r} (catalogue {cat['name']!r})")
    ids = _ids(table[cat["id"]].to_numpy(), path)
    dup = pd.Series(ids).duplicated()
    if dup.any():
        raise JoinError(f"{path}: id {show(ids[int(np.argmax(dup))])} appears more than once")
    return table.assign(**{cat["id"]: ids})


def property_columns(cat: dict, table: pd.DataFrame) -> list[str]:
    """The numeric columns analysed: ``properties`` as configured, else every numeric non-class column."""
    if cat["properties"] is not None:
        return list(cat["properties"])
    skip = {cat["id"], *cat["classes"], *cat["exclude"]}
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])]


def split_objects(keys, test_fraction: float, seed: int) -> np.ndarray:
    """'train' / 'test' per object, whole groups on one side (the engine's seeded split by group)."""
    keys = pd.Series(keys).astype(str)
    by_group = split_by_group(keys.unique(), 0.0, test_fraction, seed)
    return keys.map(by_group).to_numpy()


def join(es: EmbeddingSet, entry: dict, cat: dict, table: pd.DataFrame, test_fraction: float, seed: int):
    """(objects, counts): one row per embedding row (ids, split, group, thumbnail, properties, classes).

    ``split`` is train/test from ``entry["split"]`` (a column of the ids table or catalogue) when given, where
    other values (val) become ``unused``; else a seeded split of objects, or of groups (``entry["group"]``).
    """
    cat_type = "int" if table[cat["id"]].dtype.kind in "iu" else "str"
    if len(es.ids) and cat_type != es.id_type:
        raise JoinError(f"{entry['name']}: ids are {es.id_type} but catalogue {cat['name']!r} ids are {cat_type}; "
                        "convert one side so they match (refusing to guess a join)")
    props = property_columns(cat, table)
    indexed = table.set_index(cat["id"])
    present = pd.Index(es.ids).isin(indexed.index)
    objects = pd.DataFrame({"id": es.ids})
    for col in dict.fromkeys((entry["group"], entry["thumbnail"], entry["split"], entry["pair_by"])):
        if col and col in es.meta.columns:
            objects[col] = es.meta[col].to_numpy()
        elif col and col not in indexed.columns:
            raise JoinError(f"{entry['name']}: column {col!r} is neither in the ids table nor the catalogue")
    rows = indexed.reindex(es.ids)
    notes, kept = [], []
    for p in props:
        values = pd.to_numeric(rows[p], errors="coerce").astype("float64").replace([np.inf, -np.inf], np.nan)
        if values.notna().sum() == 0:
            notes.append(f"property {p!r}: no finite value among the joined objects - excluded")
            continue
        objects[p] = values.to_numpy()
        kept.append(p)
    for c in cat["classes"]:
        objects[c] = rows[c].astype("string").to_numpy()
    for col in dict.fromkeys((entry["group"], entry["thumbnail"], entry["split"], entry["pair_by"])):
        if col and col not in objects.columns:
            objects[col] = rows[col].to_numpy()
    objects["in_catalogue"] = present
    if entry["split"]:  # the study's own split: its test objects are ours, val/unknown ones are not used
        given = objects.pop(entry["split"]).astype("string")
        objects["split"] = np.where(given == "test", "test", np.where(given == "train", "train", "unused"))
    else:
        group = objects[entry["group"]].astype(str) if entry["group"] else objects["id"].astype(str)
        objects["split"] = split_objects(group, test_fraction, seed)
    counts = {
        "set": entry["name"], "catalogue": cat["name"], "id_type": es.id_type, "dims": int(es.X.shape[1]),
        "n_embedding_rows": int(len(es.ids) + len(es.rejects)), "n_nonfinite_excluded": len(es.rejects),
        "n_objects": int(len(es.ids)), "n_catalogue": int(len(table)), "n_joined": int(present.sum()),
        "n_missing_from_catalogue": int((~present).sum()),
        "n_catalogue_not_in_set": int(len(table) - present.sum()),
        "properties": {p: int(objects[p].notna().sum()) for p in kept},
        "classes": {c: int(objects[c].notna().sum()) for c in cat["classes"]},
        "units": {k: v for k, v in cat["units"].items() if k in kept},
        "notes": notes,
    }
    return objects, counts


def check_overlap(counts: dict, set_ids, catalogue_ids, embeddings_file: str, catalogue_file: str,
                  id_col: str) -> None:
    """Stop (JoinError, one line) when no id of the set is in the catalogue, naming both files, the catalogue's
    id column and an example id of each side; warn (log and ``counts["notes"]``) when fewer than half join."""
    n, joined = counts["n_objects"], counts["n_joined"]
    if n and not joined:
        mine = show(set_ids[0]) if len(set_ids) else "none"
        theirs = show(catalogue_ids[0]) if len(catalogue_ids) else "none"
        raise JoinError(f"{counts['set']}: none of the {n} ids of {embeddings_file} is in column {id_col!r} of "
                        f"{catalogue_file} (e.g. {mine} in the embeddings, {theirs} in the catalogue); check `id` "
                        "on both sides")
    if n and joined < n / 2:
        note = (f"only {joined} of {n} objects are in catalogue {counts['catalogue']!r} ({catalogue_file}, "
                f"column {id_col!r}): check that both sides use the same ids")
        log.warning("%s: %s", counts["set"], note)
        counts["notes"].append(note)
