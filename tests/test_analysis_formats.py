"""The formats astronomers have (issue 22, items 14-18): FITS catalogues with string ids, catalogues that match
nothing, astroPT's own ``embeddings.npy`` + ``ids.npy`` layout and ``.npy`` ids tables, clear one-line errors
for unloadable tensor/array files, and AstroCLIP ``valid_indices`` kept as integers."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from skytext.analysis.catalogue import JoinError, load_catalogue
from skytext.analysis.loaders import LoadError, load_set
from skytext.core.config import load_schema


def item(section: str, **kw) -> dict:
    """An ``analysis.<section>`` item with the defaults of its item schema (the schema is their only home)."""
    props = load_schema()["properties"]["analysis"]["properties"][section]["items"]["properties"]
    return {**{k: v["default"] for k, v in props.items() if "default" in v}, **kw}


def emb(**kw) -> dict:
    """A complete embeddings item."""
    return item("embeddings", name="s", catalogue="c", **kw)


def test_fits_catalogue_string_ids_are_decoded(tmp_path):  # item 14
    from astropy.table import Table

    Table({"oid": ["a", "bb", "c"], "v": [1.0, 2.0, 3.0], "cls": ["x", "y", "x"]}).write(tmp_path / "cat.fits")
    cat = item("catalogues", name="c", path=str(tmp_path / "cat.fits"), id="oid", properties=["v"],
               classes=["cls"])
    table = load_catalogue(cat, str(tmp_path / "cat.fits"))
    assert table["oid"].tolist() == ["a", "bb", "c"] and table["cls"].tolist() == ["x", "y", "x"]


def _set_files(tmp_path, ids):
    np.save(tmp_path / "emb.npy", np.random.default_rng(0).normal(size=(len(ids), 3)).astype(np.float32))
    pd.DataFrame({"oid": ids}).to_parquet(tmp_path / "emb.parquet")
    return emb(format="table", path=str(tmp_path / "emb.npy"), id="oid")


def _prepare(tmp_path, entry, cat):
    from skytext.analysis.steps import prepare_set

    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return prepare_set(entry=entry, catalogue=cat, embeddings=entry["path"], catalogue_file=cat["path"],
                       test_fraction=0.3, seed=0, out_embeddings=str(out / "embeddings.npy"),
                       out_objects=str(out / "objects.parquet"), out_counts=str(out / "counts.json"),
                       out_rejects=str(out / "rejects.parquet"))


def test_catalogue_matching_nothing_stops_with_one_line(tmp_path):  # item 15
    entry = _set_files(tmp_path, [f"x{i}" for i in range(20)])
    pd.DataFrame({"objid": [f"a{i}" for i in range(20)], "v": np.arange(20.0)}).to_parquet(tmp_path / "cat.parquet")
    cat = item("catalogues", name="c", path=str(tmp_path / "cat.parquet"), id="objid")
    with pytest.raises(JoinError) as err:
        _prepare(tmp_path, entry, cat)
    msg = str(err.value)
    assert "\n" not in msg and "emb.npy" in msg and "cat.parquet" in msg and "'objid'" in msg
    assert "'x0'" in msg and "'a0'" in msg


def test_catalogue_joining_under_half_warns(tmp_path, caplog):  # item 15
    entry = _set_files(tmp_path, [f"x{i}" for i in range(20)])
    pd.DataFrame({"oid": [f"x{i}" for i in range(5)], "v": np.arange(5.0)}).to_parquet(tmp_path / "cat.parquet")
    cat = item("catalogues", name="c", path=str(tmp_path / "cat.parquet"), id="oid")
    with caplog.at_level(logging.WARNING):
        counts = _prepare(tmp_path, entry, cat)
    assert counts["n_joined"] == 5
    assert any("5 of 20" in n for n in counts["notes"]) and "5 of 20" in caplog.text


def test_astropt_npy_layout_and_npy_ids(tmp_path):  # item 16
    X = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    np.save(tmp_path / "embeddings.npy", X)
    np.save(tmp_path / "ids.npy", np.array([7, 3, 9, 1]))
    es = load_set(emb(format="astropt", path=str(tmp_path / "embeddings.npy")), str(tmp_path / "embeddings.npy"))
    assert es.ids.tolist() == [7, 3, 9, 1] and es.id_type == "int"
    np.testing.assert_allclose(es.X, X)
    np.save(tmp_path / "names.npy", np.array(["a", "b", "c", "d"]))
    e = emb(format="table", path=str(tmp_path / "embeddings.npy"), ids=str(tmp_path / "names.npy"))
    assert load_set(e, e["path"]).ids.tolist() == ["a", "b", "c", "d"]
    e = emb(format="astropt", path=str(tmp_path / "embeddings.npy"), ids=str(tmp_path / "names.npy"))
    assert load_set(e, e["path"]).ids.tolist() == ["a", "b", "c", "d"]


def test_aion_numpy_scalar_ids_load_safely(tmp_path):  # item 17
    path = tmp_path / "aion.pt"
    torch.save([{"object_id": np.int64(10 + i), "embedding_hsc": torch.ones(3) * i} for i in range(3)], path)
    es = load_set(emb(format="aion", path=str(path), id="object_id", key="embedding_hsc"), str(path))
    assert es.ids.tolist() == [10, 11, 12] and es.id_type == "int"


def test_other_pickled_objects_are_refused_with_their_cause(tmp_path):  # item 17
    path = tmp_path / "aion.pt"
    torch.save([{"object_id": "a", "embedding_hsc": pd.Timestamp("2020-01-01")}], path)
    with pytest.raises(LoadError) as err:
        load_set(emb(format="aion", path=str(path), id="object_id", key="embedding_hsc"), str(path))
    msg = str(err.value)
    assert "\x1b" not in msg and "\n" not in msg and "aion.pt" in msg
    assert "pandas" in msg and "not allowed" in msg and "unsafe" not in msg.lower()


@pytest.mark.parametrize("fmt, name, what", [("aion", "x.pt", "a tensor"), ("astroclip", "x.pt", "a tensor"),
                                             ("table", "x.npy", "an array"), ("astropt", "x.npz", "an array"),
                                             ("astropt", "x.npy", "an array")])
def test_random_bytes_are_not_a_tensor_or_array_file(tmp_path, fmt, name, what):  # item 17
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(300))
    pd.DataFrame({"id": range(3)}).to_parquet(tmp_path / "x.parquet")
    np.save(tmp_path / "ids.npy", np.arange(3))
    torch.save(torch.tensor([0, 1]), tmp_path / "valid.pt")
    e = emb(format=fmt, path=str(path), key="emb", valid_indices=str(tmp_path / "valid.pt"))
    with pytest.raises(LoadError) as err:
        load_set(e, str(path))
    msg = str(err.value)
    assert f"not {what} file" in msg and name in msg and "\n" not in msg
    for hint in ("unsafe", "allow_pickle", "weights_only", "\x1b"):
        assert hint not in msg


def test_valid_indices_stay_integer(tmp_path):  # item 18
    n = 16_777_218  # above 2**24, where float32 can no longer tell neighbouring integers apart
    X = torch.arange(2, dtype=torch.float32).reshape(1, 2).expand(n, 2)  # a tiny file: one stored row
    torch.save(X, tmp_path / "image_embeddings.pt")
    torch.save(torch.tensor([16_777_217, 3]), tmp_path / "valid_indices.pt")
    e = emb(format="astroclip", path=str(tmp_path / "image_embeddings.pt"),
            valid_indices=str(tmp_path / "valid_indices.pt"))
    es = load_set(e, e["path"])
    assert es.ids.tolist() == [16_777_217, 3]
