"""Demo sky generator, dataset gathering/splitting and captions, on tiny data."""


import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skytext.core import captions, contracts, dataset

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
    s1 = dataset.split_proposals(ids, 0.15, 0.15, seed=0)
    s2 = dataset.split_proposals(ids, 0.15, 0.15, seed=0)
    s3 = dataset.split_proposals(ids, 0.15, 0.15, seed=1)
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
    dcfg = {"val_fraction": 0.2, "test_fraction": 0.2, "min_abstract_chars": 40, "max_abstract_chars": 20000}
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
    ab = captions.caption_table("abstract", props)
    assert ab["text"].iloc[0].startswith(f"Category: {props['category'].iloc[0]}. ")
    assert (ab["text_id"] == ab["proposal_id"]).all()
    ti = captions.caption_table("title", props, category_prefix=False)
    assert ti["text"].tolist() == props["title"].tolist()
    summ = pd.DataFrame({"proposal_id": props["proposal_id"].iloc[:3],
                         "objects_and_phenomena": [["spiral galaxies", "dust lanes"]] * 3,
                         "science_use_cases": [["star formation"]] * 3})
    su = captions.caption_table("summary", props, summ)
    assert len(su) == 3
    assert su["text"].iloc[0] == "Objects and phenomena: spiral galaxies, dust lanes. Science use cases: star formation."
    with pytest.raises(ValueError, match="summary"):
        captions.caption_table("summary", props, None)
