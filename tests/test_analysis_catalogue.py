"""Catalogue join of the analysis study: counts on both sides, transforms through the safe evaluator, JSON
columns, FITS input, and refusals (duplicate ids, int vs string ids) instead of a wrong join."""

import numpy as np
import pandas as pd
import pytest

from skytext.analysis.catalogue import JoinError, join, load_catalogue
from skytext.analysis.expr import ExpressionError, evaluate
from skytext.analysis.loaders import EmbeddingSet
from skytext.core.config import load_schema


def item(section: str, **kw) -> dict:
    """An ``analysis.<section>`` item with the defaults of its item schema (the schema is their only home)."""
    props = load_schema()["properties"]["analysis"]["properties"][section]["items"]["properties"]
    return {**{k: v["default"] for k, v in props.items() if "default" in v}, **kw}


def cat_entry(**kw):
    """A complete catalogue item."""
    return item("catalogues", **{"name": "c", "path": "unused", "id": "oid", **kw})


def set_entry(**kw):
    """A complete embeddings item."""
    return item("embeddings", **{"name": "s", "format": "table", "path": "unused", "catalogue": "c", **kw})


def test_safe_expressions():
    t = pd.DataFrame({"logsfr": [1.0, 2.0], "logm": [10.0, 9.0], "gt_attrs.arms": [2, 4]})
    np.testing.assert_allclose(evaluate("logsfr - logm", t), [-9.0, -7.0])
    np.testing.assert_allclose(evaluate("log10(10 ** logsfr) * 2 + gt_attrs_arms", t), [4.0, 8.0])
    assert evaluate("log10(logsfr - 1)", t).isna().tolist() == [True, False]  # -inf -> NaN
    for bad in ("__import__('os').system('true')", "logsfr.__class__", "open('x')", "logsfr[0]", "nope + 1",
                "logsfr if logm else 1", "lambda: 1"):
        with pytest.raises(ExpressionError):
            evaluate(bad, t)


def test_join_counts_both_sides_and_drops_all_missing_property(tmp_path):
    pd.DataFrame({"oid": ["a", "b", "c", "z"], "logm": [10.0, 11.0, np.nan, 9.0], "logsfr": [0.0, 1.0, 2.0, 3.0],
                  "empty": np.nan, "cls": ["x", "y", "x", "y"], "attrs": ['{"arms": 2}', '{"arms": 3}', "", "{}"]}
                 ).to_parquet(tmp_path / "cat.parquet")
    cat = cat_entry(properties=None, classes=["cls"], json_columns=["attrs"], transforms={"ssfr": "logsfr - logm"})
    table = load_catalogue(cat, str(tmp_path / "cat.parquet"))
    es = EmbeddingSet("s", np.array(["a", "b", "c", "d"], dtype=object), np.zeros((4, 2), np.float32))
    objects, counts = join(es, set_entry(), cat, table, 0.5, 0)
    assert objects["id"].tolist() == ["a", "b", "c", "d"]  # every embedding row stays
    assert objects["in_catalogue"].tolist() == [True, True, True, False]
    assert counts["n_joined"] == 3 and counts["n_missing_from_catalogue"] == 1 and counts["n_catalogue_not_in_set"] == 1
    assert "empty" not in counts["properties"] and any("'empty'" in n for n in counts["notes"])
    assert counts["properties"]["logm"] == 2 and counts["properties"]["attrs.arms"] == 2
    np.testing.assert_allclose(objects["ssfr"], [-10.0, -10.0, np.nan, np.nan])
    assert objects["cls"].tolist()[:3] == ["x", "y", "x"] and pd.isna(objects["cls"].iloc[3])
    assert set(objects["split"]) <= {"train", "test"}


def test_join_refuses_int_vs_string_ids_and_duplicates(tmp_path):
    pd.DataFrame({"oid": [1, 2, 3], "v": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "cat.parquet")
    cat = cat_entry(properties=["v"])
    table = load_catalogue(cat, str(tmp_path / "cat.parquet"))
    es = EmbeddingSet("s", np.array(["1", "2"], dtype=object), np.zeros((2, 2), np.float32))
    with pytest.raises(JoinError, match="ids are str but catalogue 'c' ids are int"):
        join(es, set_entry(), cat, table, 0.5, 0)
    pd.DataFrame({"oid": [1, 2, 2], "v": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "dup.parquet")
    with pytest.raises(JoinError, match="id 2 appears more than once"):
        load_catalogue(cat, str(tmp_path / "dup.parquet"))
    with pytest.raises(JoinError, match="no column 'nope'"):
        load_catalogue(cat_entry(properties=["nope"]), str(tmp_path / "cat.parquet"))


def test_fits_catalogue(tmp_path):
    from astropy.table import Table

    Table({"TARGETID": np.array([5, 6, 7]), "Z_HP": np.array([0.1, 0.2, 0.3])}).write(tmp_path / "c.fits")
    cat = cat_entry(id="TARGETID", properties=["Z_HP"], units={"Z_HP": "redshift"})
    table = load_catalogue(cat, str(tmp_path / "c.fits"))
    es = EmbeddingSet("s", np.array([7, 5], dtype=np.int64), np.zeros((2, 2), np.float32))
    objects, counts = join(es, set_entry(), cat, table, 0.5, 0)
    np.testing.assert_allclose(objects["Z_HP"], [0.3, 0.1])
    assert counts["units"] == {"Z_HP": "redshift"} and counts["id_type"] == "int"


def test_split_keeps_groups_together():
    es = EmbeddingSet("s", np.array([f"o{i}" for i in range(40)], dtype=object), np.zeros((40, 2), np.float32),
                      meta=pd.DataFrame({"prop": [f"p{i // 4}" for i in range(40)]}))
    pd_cat = pd.DataFrame({"oid": es.ids, "v": np.arange(40.0)})
    cat = cat_entry(properties=["v"])
    objects, _ = join(es, set_entry(group="prop"), cat, pd_cat, 0.3, 0)
    assert objects.groupby("prop")["split"].nunique().max() == 1
    assert 0 < (objects["split"] == "test").mean() < 0.6


def test_split_column_of_the_study_is_used():
    es = EmbeddingSet("s", np.array(["a", "b", "c", "d"], dtype=object), np.zeros((4, 2), np.float32),
                      meta=pd.DataFrame({"split": ["train", "test", "val", "train"]}))
    cat = cat_entry(properties=["v"])
    objects, counts = join(es, set_entry(split="split"), cat, pd.DataFrame({"oid": es.ids, "v": np.arange(4.0)}),
                           0.5, 0)
    assert objects["split"].tolist() == ["train", "test", "unused", "train"]
    assert "split" in objects.columns and list(objects.columns).count("split") == 1
