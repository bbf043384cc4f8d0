"""Demo sky generator, dataset gathering/splitting and captions, on tiny data."""


import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skytext.core import captions, contracts
from skytext.images import dataset
from skytext.core.split import split_by_group

from skytext.sources import sky_demo as demo


@pytest.fixture
def tiny(tmp_path):
    cfg = demo.DemoConfig(n_proposals=16, min_images=2, max_images=3, image_size=48, seed=3)
    props = demo.write_proposals(cfg, tmp_path / "p.parquet")
    shards = [demo.observations_for_shard(cfg, s, 2, tmp_path / f"img{s}") for s in range(2)]
    return cfg, props, shards


def test_demo_is_seeded_and_follows_the_contract(tiny, tmp_path):
    cfg, props, shards = tiny
    again = demo.proposals(cfg)
    assert props["abstract"].tolist() == again["abstract"].tolist()
    obs = pd.concat(shards)
    contracts.conform(obs, contracts.OBSERVATIONS)
    assert obs["obs_id"].is_unique
    assert set(obs["proposal_id"]) == set(props["proposal_id"])  # every proposal has images
    # shards partition the proposals
    assert not set(shards[0]["proposal_id"]) & set(shards[1]["proposal_id"])
    im = Image.open(obs["path"].iloc[0])
    assert im.size == (48, 48) and im.mode == "L"
    # several classes, abstracts of several sentences that name the class among distractors
    assert props["gt_class"].nunique() == 8
    for abstract, cls in zip(props["abstract"], props["gt_class"]):
        assert abstract.count(". ") >= 4
        assert any(name.split()[-1] in abstract for name in demo.CLASSES[cls]["names"])


def test_images_of_one_class_differ(tiny):
    _, _, shards = tiny
    obs = pd.concat(shards)
    a, b = (np.asarray(Image.open(p), float) for p in obs["path"].iloc[:2])
    assert np.abs(a - b).mean() > 1


def test_split_is_by_proposal_and_seeded():
    ids = [str(i) for i in range(200)]
    s1 = split_by_group(ids, 0.15, 0.15, seed=0)
    s2 = split_by_group(ids, 0.15, 0.15, seed=0)
    s3 = split_by_group(ids, 0.15, 0.15, seed=1)
    assert s1 == s2 and s1 != s3
    counts = pd.Series(s1).value_counts()
    assert counts["test"] == 30 and counts["val"] == 30 and counts["train"] == 140


def test_dataset_keeps_or_rejects_every_record(tiny, tmp_path):
    cfg, props, shards = tiny
    obs = pd.concat(shards, ignore_index=True)
    # corrupt one image, orphan one observation, empty one abstract, duplicate one observation
    Path = type(tmp_path)
    Path(obs.loc[0, "path"]).write_bytes(b"\xff\xd8 not really a jpeg")
    orphan = obs.iloc[[1]].assign(obs_id="orphan", proposal_id="99999")
    dup = obs.iloc[[2]]
    props = props.copy()
    empty_pid = props.loc[5, "proposal_id"]
    props.loc[5, "abstract"] = "  "
    shards = [pd.concat([obs, orphan, dup], ignore_index=True)]
    dcfg = {"val_fraction": 0.2, "test_fraction": 0.2, "min_abstract_chars": 40, "max_abstract_chars": 20000,
            "verify_images": True}
    out_obs, out_props, rejects = dataset.build_dataset(shards, [contracts.rejects_frame([])], props, contracts.rejects_frame([]), dcfg, seed=0)
    entered = set(shards[0]["obs_id"])
    assert set(out_obs["obs_id"]) | set(rejects.loc[rejects.record_type == "observation", "record_id"]) == entered
    reasons = dict(zip(rejects["record_id"], rejects["reason"]))
    assert reasons[obs.loc[0, "obs_id"]] == "corrupt_image"
    assert reasons["orphan"] == "no_abstract"
    assert reasons[empty_pid] == "empty_abstract"
    assert (rejects["reason"] == "duplicate_obs_id").sum() == 1
    # no proposal straddles splits
    assert out_obs.groupby("proposal_id")["split"].nunique().max() == 1
    assert set(out_obs["split"]) == {"train", "val", "test"}


def test_captions_abstract_title_and_summary(tiny):
    _, props, _ = tiny
    ab = captions.caption_table("abstract", props, None, True)
    assert ab["text"].iloc[0].startswith(f"Category: {props['category'].iloc[0]}. ")
    assert (ab["text_id"] == ab["proposal_id"]).all()
    ti = captions.caption_table("title", props, None, False)
    assert ti["text"].tolist() == props["title"].tolist()
    summ = pd.DataFrame({"proposal_id": props["proposal_id"].iloc[:3],
                         "objects_and_phenomena": [["spiral galaxies", "dust lanes"]] * 3,
                         "science_use_cases": [["star formation"]] * 3})
    su = captions.caption_table("summary", props, summ, True)
    assert len(su) == 3
    assert su["text"].iloc[0] == "Objects and phenomena: spiral galaxies, dust lanes. Science use cases: star formation."
    with pytest.raises(ValueError, match="summary"):
        captions.caption_table("summary", props, None, True)


def test_dataset_rule_writes_tables_and_a_summary_that_counts_them(tiny, tmp_path):
    import json

    _, props, shards = tiny
    paths = {}
    for i, s in enumerate(shards):
        s.to_parquet(tmp_path / f"o{i}.parquet")
        contracts.rejects_frame([]).to_parquet(tmp_path / f"r{i}.parquet")
    props.to_parquet(tmp_path / "props.parquet")
    contracts.rejects_frame([]).to_parquet(tmp_path / "prej.parquet")
    for k in ("observations", "proposals", "rejects"):
        paths[f"out_{k}"] = str(tmp_path / f"out_{k}.parquet")
    cfg = {"val_fraction": 0.25, "test_fraction": 0.25, "min_abstract_chars": 40, "max_abstract_chars": 20000,
           "verify_images": False}
    summary = dataset.run_dataset([str(tmp_path / f"o{i}.parquet") for i in range(2)],
                                  [str(tmp_path / f"r{i}.parquet") for i in range(2)], str(tmp_path / "props.parquet"),
                                  str(tmp_path / "prej.parquet"), out_summary=str(tmp_path / "s.json"), cfg=cfg,
                                  seed=0, **paths)
    obs = pd.read_parquet(paths["out_observations"])
    assert json.loads((tmp_path / "s.json").read_text()) == summary
    assert summary["observations"] == len(obs) == sum(len(s) for s in shards) and summary["rejects"] == 0
    assert sum(v["proposals"] for v in summary["by_split"].values()) == summary["proposals"] == 16


def test_captions_rule_reads_summaries_only_for_the_summary_type(tiny, tmp_path):
    from skytext.images.captions import run_captions

    _, props, _ = tiny
    props.to_parquet(tmp_path / "p.parquet")
    summ = pd.DataFrame({"proposal_id": props["proposal_id"].iloc[:3], "objects_and_phenomena": [["comets"]] * 3,
                         "science_use_cases": [["orbits"]] * 3})
    summ.to_parquet(tmp_path / "s.parquet")
    out, rej = str(tmp_path / "c.parquet"), str(tmp_path / "r.parquet")
    run_captions(str(tmp_path / "p.parquet"), [], "title", False, out, rej)
    assert pd.read_parquet(out)["text"].tolist() == props["title"].tolist() and len(pd.read_parquet(rej)) == 0
    run_captions(str(tmp_path / "p.parquet"), [str(tmp_path / "s.parquet")], "summary", True, out, rej)
    assert len(pd.read_parquet(out)) == 3
    rejects = pd.read_parquet(rej)
    assert len(rejects) == 13 and set(rejects["reason"]) == {"no_caption"}
