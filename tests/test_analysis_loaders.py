"""Loaders of the analysis study: one tiny file per format, and every kind of bad input refused in one line
or counted, never joined wrongly."""

import numpy as np
import pandas as pd
import pytest
import torch

from skytext.analysis.loaders import LoadError, load_set
from skytext.core.config import load_schema


def item(section: str, **kw) -> dict:
    """An ``analysis.<section>`` item with the defaults of its item schema (the schema is their only home)."""
    props = load_schema()["properties"]["analysis"]["properties"][section]["items"]["properties"]
    return {**{k: v["default"] for k, v in props.items() if "default" in v}, **kw}


def entry(**kw):
    """A complete embeddings item."""
    return item("embeddings", name="s", catalogue="c", **kw)


def test_aion_list_of_dicts_loads_with_weights_only(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    records = [{"object_id": f"o{i}", "embedding_hsc": torch.tensor(X[i]), "embedding_spectrum": torch.zeros(3),
                "n_tokens": 4} for i in range(5)]
    path = tmp_path / "aion.pt"
    torch.save(records, path)
    back = torch.load(path, weights_only=True)  # the format itself is safe to load
    assert back[0]["n_tokens"] == 4 and back[0]["object_id"] == "o0"
    es = load_set(entry(format="aion", path=str(path), id="object_id", key="embedding_hsc"), str(path))
    assert es.ids.tolist() == [f"o{i}" for i in range(5)] and es.id_type == "str"
    np.testing.assert_allclose(es.X, X)


def test_aion_token_arrays_are_mean_pooled_and_int_ids_kept(tmp_path):
    tokens = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    path = tmp_path / "aion.pt"
    torch.save([{"object_id": 10 + i, "embedding_hsc_desi": tokens[i]} for i in range(2)], path)
    es = load_set(entry(format="aion", path=str(path), id="object_id", key="embedding_hsc_desi"), str(path))
    assert es.id_type == "int" and es.ids.tolist() == [10, 11]
    np.testing.assert_allclose(es.X, tokens.mean(1).numpy())


def test_aion_refuses_arbitrary_pickles_and_mismatched_dims(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save([{"object_id": "a", "embedding_hsc": pd.Timestamp("2020-01-01")}], path)
    with pytest.raises(LoadError, match="pandas.* object, which is not allowed"):
        load_set(entry(format="aion", path=str(path), id="object_id", key="embedding_hsc"), str(path))
    torch.save([{"object_id": "a", "embedding_hsc": torch.zeros(4)},
                {"object_id": "b", "embedding_hsc": torch.zeros(5)}], path)
    with pytest.raises(LoadError, match=r"record 1 \('b'\) has 5 dims, earlier records 4"):
        load_set(entry(format="aion", path=str(path), id="object_id", key="embedding_hsc"), str(path))
    with pytest.raises(LoadError, match="no key 'embedding_x'"):
        load_set(entry(format="aion", path=str(path), id="object_id", key="embedding_x"), str(path))


def test_astroclip_tensors_with_valid_indices(tmp_path):
    X = torch.randn(6, 4)
    torch.save(X, tmp_path / "image_embeddings.pt")
    torch.save(torch.tensor([0, 2, 5]), tmp_path / "valid_indices.pt")
    e = entry(format="astroclip", path=str(tmp_path / "image_embeddings.pt"),
              valid_indices=str(tmp_path / "valid_indices.pt"))
    es = load_set(e, e["path"])
    assert es.ids.tolist() == [0, 2, 5]
    np.testing.assert_allclose(es.X, X.numpy()[[0, 2, 5]])
    pd.DataFrame({"targetid": [100 + i for i in range(6)]}).to_parquet(tmp_path / "ids.parquet")
    es = load_set({**e, "ids": str(tmp_path / "ids.parquet"), "id": "targetid"}, e["path"])
    assert es.ids.tolist() == [100, 102, 105]
    torch.save(torch.tensor([0, 9]), tmp_path / "valid_indices.pt")
    with pytest.raises(LoadError, match="outside 0..5"):
        load_set(e, e["path"])


def test_astropt_npz(tmp_path):
    X = np.random.default_rng(1).normal(size=(4, 3, 5)).astype(np.float32)  # tokens -> mean-pooled
    np.savez(tmp_path / "astropt.npz", embeddings=X, ids=np.array(["a", "b", "c", "d"]))
    e = entry(format="astropt", path=str(tmp_path / "astropt.npz"), key="embeddings", id="ids")
    es = load_set(e, e["path"])
    assert es.ids.tolist() == ["a", "b", "c", "d"]
    np.testing.assert_allclose(es.X, X.mean(1), rtol=1e-6)


def test_table_npy_and_parquet_vector_column(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "t.npy", X)
    pd.DataFrame({"oid": ["w", "x", "y", "z"], "path": list("abcd")}).to_parquet(tmp_path / "t.parquet")
    es = load_set(entry(format="table", path=str(tmp_path / "t.npy"), id="oid"), str(tmp_path / "t.npy"))
    assert es.ids.tolist() == ["w", "x", "y", "z"] and es.meta["path"].tolist() == list("abcd")
    pd.DataFrame({"oid": [1, 2], "vec": [[1.0, 2.0], [3.0, 4.0]]}).to_parquet(tmp_path / "v.parquet")
    vec = str(tmp_path / "v.parquet")
    es = load_set(entry(format="table", path=vec, id="oid", key="vec"), vec)
    np.testing.assert_allclose(es.X, [[1, 2], [3, 4]])
    pd.DataFrame({"oid": [1, 2], "vec": [[1.0, 2.0], [3.0]]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(LoadError, match="row 1 .* has 1 dims"):
        load_set(entry(format="table", path=str(tmp_path / "bad.parquet"), id="oid", key="vec"),
                 str(tmp_path / "bad.parquet"))


@pytest.mark.parametrize("ids, match", [(["a", "b", "a", "c"], "not unique"), (["a", "b", "c"], "3 ids for 4")])
def test_table_bad_ids_refused_in_one_line(tmp_path, ids, match):
    np.save(tmp_path / "t.npy", np.zeros((4, 2), np.float32))
    pd.DataFrame({"oid": ids}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(LoadError, match=match) as err:
        load_set(entry(format="table", path=str(tmp_path / "t.npy"), id="oid"), str(tmp_path / "t.npy"))
    assert "\n" not in str(err.value) and "t.parquet" in str(err.value) or "t.npy" in str(err.value)


def test_ids_mixing_int_and_string_refused(tmp_path):
    path = tmp_path / "aion.pt"
    torch.save([{"object_id": 1, "embedding_hsc": torch.zeros(2)},
                {"object_id": "2", "embedding_hsc": torch.ones(2)}], path)
    with pytest.raises(LoadError, match="mix types"):
        load_set(entry(format="aion", path=str(path), id="object_id", key="embedding_hsc"), str(path))


def test_nonfinite_rows_are_counted_exclusions(tmp_path):
    X = np.ones((4, 2), np.float32)
    X[1, 0], X[3, 1] = np.nan, np.inf
    np.save(tmp_path / "t.npy", X)
    pd.DataFrame({"oid": ["a", "b", "c", "d"]}).to_parquet(tmp_path / "t.parquet")
    es = load_set(entry(format="table", path=str(tmp_path / "t.npy"), id="oid"), str(tmp_path / "t.npy"))
    assert es.ids.tolist() == ["a", "c"]
    assert [r["record_id"] for r in es.rejects] == ["b", "d"]
    assert {r["reason"] for r in es.rejects} == {"non_finite"}


def test_skytext_format_reads_npy_beside_parquet(tmp_path):
    X = np.eye(3, dtype=np.float32)
    np.save(tmp_path / "shared.npy", X)
    pd.DataFrame({"source_id": ["s1", "s2", "s3"], "split": ["train", "test", "val"]}).to_parquet(
        tmp_path / "shared.parquet")
    es = load_set(entry(format="skytext", study="spectra", path="embed/shared.npy", id="source_id"),
                  str(tmp_path / "shared.npy"))
    assert es.ids.tolist() == ["s1", "s2", "s3"] and es.meta["split"].tolist() == ["train", "test", "val"]
