"""Evaluation from embeddings, checked against an independent brute-force computation."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import top_k_accuracy_score

from skytext.eval import retrieval as evaluate

CFG = {"recall_at": [1, 5, 10], "n_boot": 100, "chunk_size": 7}


def _toy(seed=0, n_props=30, per=3, d=16, noise=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_props, d))
    pids = [str(p) for p in range(n_props) for _ in range(per)]
    img = np.repeat(centres, per, axis=0) + noise * rng.normal(size=(n_props * per, d))
    txt = centres + noise * rng.normal(size=centres.shape)
    norm = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return norm(img), pd.DataFrame({"obs_id": range(len(pids)), "proposal_id": pids}), norm(txt), pd.DataFrame({"text_id": [str(p) for p in range(n_props)], "proposal_id": [str(p) for p in range(n_props)]})


def test_image_to_text_matches_brute_force_and_sklearn():
    img, im, txt, tm = _toy()
    res = evaluate.evaluate_embeddings(img, im, txt, tm, CFG, 0)
    s = img @ txt.T
    true = im["proposal_id"].astype(int).to_numpy()
    ranks = np.array([1 + (s[i] > s[i, true[i]]).sum() for i in range(len(s))])
    n = txt.shape[0]
    for k in (5, 10, 20, 50):
        m = math.ceil(k * n / 100)
        assert res["image_to_text"]["topk_percent"]["accuracy"][k - 1] == pytest.approx((ranks <= m).mean())
        assert res["image_to_text"]["topk_percent"]["accuracy"][k - 1] == pytest.approx(
            top_k_accuracy_score(true, s, k=m, labels=np.arange(n)))
    assert res["image_to_text"]["median_rank"] == pytest.approx(np.median(ranks))


def test_text_to_image_counts_the_best_image_of_the_proposal():
    img, im, txt, tm = _toy(seed=1)
    res = evaluate.evaluate_embeddings(img, im, txt, tm, CFG, 0)
    s = txt @ img.T
    pids = im["proposal_id"].astype(int).to_numpy()
    ranks = []
    for t in range(len(txt)):
        best = s[t, pids == t].max()
        ranks.append(1 + (s[t, pids != t] > best).sum())
    n = len(img)
    assert res["text_to_image"]["top10pct"] == pytest.approx(np.mean(np.array(ranks) <= math.ceil(0.1 * n)))
    assert res["text_to_image"]["recall_at"]["1"] == pytest.approx(np.mean(np.array(ranks) == 1))


def test_signal_beats_shuffled_embeddings():
    img, im, txt, tm = _toy(noise=0.5)
    good = evaluate.evaluate_embeddings(img, im, txt, tm, CFG, 0)["image_to_text"]["top10pct"]
    bad = evaluate.evaluate_embeddings(img, im, txt[np.random.default_rng(0).permutation(len(txt))], tm, CFG,
                                      0)["image_to_text"]["top10pct"]
    assert good > 0.9 and bad < 0.4


def test_oracle_ceiling_uses_class_and_attributes():
    imgs = pd.DataFrame({"proposal_id": ["a", "a", "b", "c"], "gt_class": ["x", "x", "x", "y"],
                         "gt_attrs": ['{"k": 1}', '{"k": 1}', '{"k": 2}', '{"k": 1}']})
    props = pd.DataFrame({"proposal_id": ["a", "b", "c"], "gt_class": ["x", "x", "y"],
                          "gt_attrs": ['{"k": 1}', '{"k": 2}', '{"k": 1}']})
    res = evaluate.oracle(imgs, props, {"recall_at": [1], "n_boot": 0}, 0)
    assert res["image_to_text"]["recall_at"]["1"] == 1.0
    # two proposals sharing class and attributes tie: random tie-breaking puts the true one first about half
    # the time, never below rank 2
    props2 = props.assign(gt_attrs=['{"k": 1}', '{"k": 1}', '{"k": 1}'])
    imgs2 = pd.DataFrame({"proposal_id": ["a", "b"] * 200, "gt_class": "x", "gt_attrs": '{"k": 1}'})
    res2 = evaluate.oracle(imgs2, props2, {"recall_at": [1, 2], "n_boot": 0}, 0)
    assert 0.4 < res2["image_to_text"]["recall_at"]["1"] < 0.6
    assert res2["image_to_text"]["recall_at"]["2"] == 1.0


def test_description_accuracy_and_pair_similarities():
    from skytext.eval import explore

    phrases = ["spiral galaxies", "globular clusters", "comets"]
    emb = np.eye(3, dtype=np.float32)
    img = np.array([[1, 0, 0], [0, 1, 0], [0, 0.2, 1]], dtype=np.float32)
    meta = pd.DataFrame({"obs_id": ["a", "b", "c"], "gt_class": ["spiral", "globular", "globular"]})
    top = explore.describe(img, meta, phrases, emb, 2, 7)
    acc = explore.class_accuracy(top, len(phrases))
    assert acc["top1"] == pytest.approx(2 / 3) and acc["top5"] == pytest.approx(1.0)
    true, shuffled = explore.pair_similarities(np.eye(3, dtype=np.float32), ["1", "2", "3"], np.eye(3, dtype=np.float32), ["1", "2", "3"], 0)
    assert np.allclose(true, 1) and np.allclose(shuffled, 0)


def test_gallery_puts_each_querys_best_images_in_order(tmp_path):
    from PIL import Image

    from skytext.eval import explore

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    paths = []
    for i, c in enumerate(colours):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (40, 30), c).save(paths[-1])
    img = np.eye(3, dtype=np.float32)
    queries = np.array([[0.1, 0.2, 0.9], [0.9, 0.3, 0.0]], dtype=np.float32)
    out = tmp_path / "gallery.png"
    explore.gallery(img, pd.DataFrame({"path": paths}), ["blue first", "red first"], queries, str(out), 2, 1,
                    tile=20)
    with Image.open(out) as g:
        g = g.convert("RGB")
        assert g.size == (260 + 2 * 24 + 4, 4 + 2 * (20 + 14 + 4))
        tile = lambda q, c: g.getpixel((260 + 4 + c * 24 + 10, 4 + q * 38 + 10))  # noqa: E731
        assert [tile(0, 0), tile(0, 1), tile(1, 0), tile(1, 1)] == [colours[2], colours[1], colours[0], colours[1]]


DEMO_IMAGES_PER_TEXT = [3] * 13 + [4] * 14 + [5] * 11 + [6] * 10  # the demo's test split: 48 proposals, 210 images


def test_random_row_has_the_model_contract_and_exact_chance():
    img, im, txt, tm = _toy()
    model = evaluate.evaluate_embeddings(img, im, txt, tm, CFG, 0)
    assert model["text_to_image"]["n_relevant"] == {"3": 30} and model["image_to_text"]["n_relevant"] == {"1": 90}
    r = evaluate.random_result(48, 210, DEMO_IMAGES_PER_TEXT, CFG, seed=0)
    for d in ("image_to_text", "text_to_image"):
        assert set(r[d]) == set(model[d])  # n_queries, the intervals, ...: everything a model row has
        assert r[d]["top10pct_ci"][0] <= r[d]["top10pct"] <= r[d]["top10pct_ci"][1]
    assert r["image_to_text"]["n_queries"] == 210 and r["text_to_image"]["n_queries"] == 48
    assert r["image_to_text"]["top10pct"] == pytest.approx(5 / 48)
    assert r["text_to_image"]["top10pct"] == pytest.approx(0.3677, abs=1e-4)  # was 0.346 (4 images for every text)
    hist = evaluate.random_result(48, 210, {"3": 13, "4": 14, "5": 11, "6": 10}, CFG, seed=0)
    assert hist["text_to_image"]["top10pct"] == r["text_to_image"]["top10pct"]
    with pytest.raises(ValueError, match="48 texts"):
        evaluate.random_result(47, 210, DEMO_IMAGES_PER_TEXT, CFG, 0)
    table = evaluate.comparison_table({"m": model, "random": r}).set_index("model")
    assert table.loc["random", "t2i_n_queries"] == 48 and table.loc["random", "t2i_top10pct_lo"] < 0.3677


def test_compare_rule_writes_random_row_from_the_results(tmp_path):
    from skytext.images.evaluate import run_compare

    img, im, txt, tm = _toy(n_props=10, per=2)
    res = evaluate.evaluate_embeddings(img, im, txt, tm, CFG, 0)
    res.update(model="m", caption="abstract", split="test")
    (tmp_path / "r.json").write_text(json.dumps(res))
    im.assign(split="test").to_parquet(tmp_path / "obs.parquet")
    tm.assign(split="test").to_parquet(tmp_path / "props.parquet")
    pd.DataFrame([{"model": "m", "p10_mean": 0.5}]).to_csv(tmp_path / "s.csv", index=False)
    out = {"out_table": tmp_path / "t.csv", "out_json": tmp_path / "all.json", "out_curves": tmp_path / "c.png",
           "out_html": tmp_path / "t.html"}
    table = run_compare([str(tmp_path / "r.json")], str(tmp_path / "obs.parquet"), str(tmp_path / "props.parquet"),
                        [str(tmp_path / "s.csv")], "test", CFG, 0, **{k: str(v) for k, v in out.items()})
    assert list(table["model"]) == ["m/abstract", "random"]  # no ground truth here: no oracle row
    html = out["out_html"].read_text()  # the report shows this table inline
    assert "<table" in html and "t2i_top10pct" in html and "p10_mean" in html
    rnd = json.loads(out["out_json"].read_text())["results"]["random"]
    assert rnd["text_to_image"]["n_queries"] == 10 and rnd["image_to_text"]["n_queries"] == 20
    assert rnd["text_to_image"]["top10pct"] == pytest.approx(1 - (18 / 20) * (17 / 19))  # 2 of 20 images, top 2


def test_baselines_count_images_per_text_from_the_split_when_a_result_lacks_them():
    from skytext.images.evaluate import images_per_text, with_baselines

    img, im, txt, tm = _toy(n_props=6, per=2)
    res = evaluate.evaluate_embeddings(img, im, txt, tm, CFG, 0)
    obs = im.assign(gt_class=["x", "y"] * 6, gt_attrs="{}")
    props = tm.assign(gt_class=["x", "y"] * 3, gt_attrs="{}")
    assert images_per_text(res, obs, props) == {"2": 6}
    del res["text_to_image"]["n_relevant"]
    assert sorted(images_per_text(res, obs, props)) == [2] * 6
    out = with_baselines({"m/abstract": res}, obs, props, CFG, 0)
    assert set(out) == {"m/abstract", "random", "oracle"}  # ground truth present: the oracle row too
    assert out["random"]["text_to_image"]["n_relevant"] == {"2": 6}


def test_evaluate_rule_writes_the_result_with_its_labels(tmp_path):
    from skytext.images.evaluate import run_evaluate

    img, im, txt, tm = _toy(n_props=8, per=2)
    np.save(tmp_path / "i.npy", img), np.save(tmp_path / "t.npy", txt)
    im.to_parquet(tmp_path / "i.parquet"), tm.to_parquet(tmp_path / "t.parquet")
    res = run_evaluate(str(tmp_path / "i.npy"), str(tmp_path / "i.parquet"), str(tmp_path / "t.npy"),
                       str(tmp_path / "t.parquet"), "full-abstract", "abstract", "test", CFG, 0,
                       str(tmp_path / "r.json"))
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["model"] == "full-abstract" and saved["caption"] == "abstract" and saved["split"] == "test"
    assert saved["image_to_text"]["top10pct"] == res["image_to_text"]["top10pct"]


def _explore_inputs(tmp_path, n=6):
    """A tiny untrained model's spec, n demo-like images with random embeddings, texts and vocab files."""
    from PIL import Image

    from conftest import ROOT
    from skytext.align.models import ModelSpec
    from skytext.core.config import defaults

    model = {**defaults("images.model"), "config_file": str(ROOT / "resources/model_configs/skytext-tiny.json")}
    ModelSpec.from_config(model, mode="full", caption=None, seed=0).to_json(tmp_path / "model.json")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (16, 16), tuple(int(v) for v in rng.integers(0, 255, 3))).save(paths[-1])
    pids = [str(i // 2) for i in range(n)]
    norm = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    np.save(tmp_path / "img.npy", norm(rng.normal(size=(n, 128))))
    np.save(tmp_path / "txt.npy", norm(rng.normal(size=(n // 2, 128))))
    pd.DataFrame({"obs_id": [f"o{i}" for i in range(n)], "proposal_id": pids, "path": paths,
                  "gt_class": "spiral"}).to_parquet(tmp_path / "img.parquet")
    pd.DataFrame({"text_id": sorted(set(pids)), "proposal_id": sorted(set(pids))}).to_parquet(tmp_path / "txt.parquet")
    (tmp_path / "desc.txt").write_text("spiral galaxies\nglobular clusters\nemission nebulae\nstar fields\n")
    (tmp_path / "q.txt").write_text("a spiral galaxy\na star cluster\n")
    names = [("spec", "model.json"), ("images", "img.npy"), ("image_ids", "img.parquet"), ("texts", "txt.npy"),
             ("text_ids", "txt.parquet"), ("descriptions", "desc.txt"), ("queries", "q.txt")]
    return {k: str(tmp_path / v) for k, v in names}


def test_explore_rule_reads_its_k_and_the_embed_settings(tmp_path):
    import torch
    from PIL import Image

    from skytext.images.explore import run_explore

    ins = _explore_inputs(tmp_path)
    outs = {f"out_{k}": str(tmp_path / f"{k}.{e}") for k, e in
            [("descriptions", "csv"), ("summary", "json"), ("gallery", "png"), ("histogram", "png")]}
    embed = {"batch_size": 2, "device": "cpu", "precision": "fp32"}
    summary = run_explore(**ins, model="base", embed=embed, describe_k=3, gallery_k=2, chunk_size=4, seed=0,
                          threads=1, gpus_given=0, **outs)
    top = pd.read_csv(outs["out_descriptions"])
    assert (top.groupby("obs_id").size() == 3).all() and summary["model"] == "base"
    with Image.open(outs["out_gallery"]) as g:
        assert g.size[0] == 260 + 2 * (96 + 4) + 4  # gallery_k tiles per query row
    if not torch.cuda.is_available():  # the configured device is the one used (it was ignored: always CPU)
        with pytest.raises((RuntimeError, AssertionError), match="(?i)cuda|nvidia|torch not compiled"):
            run_explore(**ins, model="base", embed={**embed, "device": "cuda"}, describe_k=3, gallery_k=2,
                        chunk_size=4, seed=0, threads=1, gpus_given=0, **outs)


def test_comparison_table_carries_each_models_search_columns():
    """issue 22.7: the search evaluation sits in comparison.csv beside retrieval, by model; baselines get none."""
    import pandas as pd

    from skytext.images.evaluate import with_search_columns

    table = pd.DataFrame({"model": ["full-abstract/abstract", "base/abstract", "random"], "i2t_top10pct": [0.9, 0.1, 0.1]})
    search = pd.DataFrame({"model": ["full-abstract", "base"], "p10_mean": [0.8, 0.2], "offtopic_reject_rate": [0.95, 1.0]})
    out = with_search_columns(table, search)
    assert list(out["model"]) == list(table["model"])
    assert out["search_p10_mean"].tolist()[:2] == [0.8, 0.2] and pd.isna(out["search_p10_mean"].iloc[2])
    assert out["search_offtopic_reject_rate"].iloc[0] == 0.95
    assert with_search_columns(table, None).equals(table)
