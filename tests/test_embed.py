"""Image embedding split over several jobs: the parts cover every row once, in order, and joined they equal
the unsharded embedding."""

import numpy as np
import pandas as pd
import pytest

from conftest import run_snakemake
from skytext.align.embed import join_parts, part_rows


@pytest.mark.parametrize("n, parts", [(0, 1), (1, 3), (10, 3), (10, 10), (7, 2)])
def test_parts_cover_every_row_once_in_order(n, parts):
    rows = pd.DataFrame({"obs_id": [f"o{i}" for i in range(n)]})
    got = [part_rows(rows, k, parts) for k in range(parts)]
    assert pd.concat(got)["obs_id"].tolist() == rows["obs_id"].tolist()
    sizes = [len(g) for g in got]
    assert max(sizes) - min(sizes) <= 1


def test_part_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="part 3 is not one of 0..2"):
        part_rows(pd.DataFrame({"a": [1]}), 3, 3)


def test_join_checks_alignment_and_dimension():
    a, b = np.ones((2, 4), np.float16), np.zeros((1, 4), np.float16)
    ids = [pd.DataFrame({"obs_id": ["x", "y"]}), pd.DataFrame({"obs_id": ["z"]})]
    emb, joined = join_parts([a, b], ids)
    assert emb.shape == (3, 4) and joined["obs_id"].tolist() == ["x", "y", "z"]
    assert (emb[:2] == 1).all() and (emb[2] == 0).all()
    with pytest.raises(ValueError, match="part 1 has 1 rows but its id table has 2"):
        join_parts([a, b], [ids[0], ids[0]])
    with pytest.raises(ValueError, match="disagree on the dimension"):
        join_parts([a, np.zeros((1, 3), np.float16)], ids)


def test_embed_images_rule_joins_the_parts_and_copies_the_spec(tmp_path):
    from skytext.images.join import run_embed_images

    for i, n in enumerate((2, 1)):
        np.save(tmp_path / f"{i}.npy", np.full((n, 4), i, np.float16))
        pd.DataFrame({"obs_id": [f"{i}-{j}" for j in range(n)]}).to_parquet(tmp_path / f"{i}.parquet")
    (tmp_path / "spec.json").write_text('{"arch": "x"}')
    out = {k: str(tmp_path / f"out.{k}") for k in ("embeddings", "ids", "spec")}
    run_embed_images([str(tmp_path / f"{i}.npy") for i in range(2)], [str(tmp_path / f"{i}.parquet") for i in range(2)],
                     str(tmp_path / "spec.json"), out["embeddings"] + ".npy", out["ids"], out["spec"])
    assert np.load(out["embeddings"] + ".npy")[:, 0].tolist() == [0, 0, 1]
    assert pd.read_parquet(out["ids"])["obs_id"].tolist() == ["0-0", "0-1", "1-0"]
    assert (tmp_path / "out.spec").read_text() == '{"arch": "x"}'


@pytest.mark.e2e
def test_sharded_embedding_equals_one_job(workflow_copy):
    target = "results/images/demo/embed/base/test/images"
    micro = ("--configfile", "tests/configs/micro.yaml")
    run_snakemake(workflow_copy, f"{target}.npy", *micro)
    one = np.load(workflow_copy / f"{target}.npy"), pd.read_parquet(workflow_copy / f"{target}.parquet")
    (workflow_copy / "shards.yaml").write_text("images: {embed: {shards: 3}}\n")
    run = run_snakemake(workflow_copy, f"{target}.npy", *micro, "shards.yaml")
    assert run.stderr.count("rule embed_image_part:") == 3, run.stderr[-2000:]
    three = np.load(workflow_copy / f"{target}.npy"), pd.read_parquet(workflow_copy / f"{target}.parquet")
    assert len(one[0]) > 3
    np.testing.assert_array_equal(one[0], three[0])
    pd.testing.assert_frame_equal(one[1], three[1])
    assert not list((workflow_copy / "results/images/demo/embed/base/test/parts").glob("*"))  # parts are temporary
