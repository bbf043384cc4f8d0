"""Loss, augmentation, text fitting and the training loop (determinism, resume) on tiny data."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from skytext.align import data, loss, train
from skytext.sources import sky_demo as demo
from skytext.align.models import ModelSpec, build_model, load_state_dict
from skytext.core.config import defaults

CFG_FILE = str(ROOT / "resources/model_configs/skytext-tiny.json")


def train_config(**overrides) -> "train.TrainConfig":
    """The schema's default ``images.train`` section with ``overrides`` (the only home of defaults)."""
    return train.TrainConfig.from_config({**defaults("images.train"), "lr": 5e-4, **overrides}, seed=0)


def spec_of(mode: str, caption: str | None = None) -> ModelSpec:
    """The demo's tiny model in ``mode`` from the schema's default ``images.model`` section."""
    return ModelSpec.from_config({**defaults("images.model"), "config_file": CFG_FILE}, mode=mode, caption=caption,
                                 seed=0)


def test_clip_loss_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    fi = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=1)
    ft = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=1)
    log_scale = torch.tensor(math.log(10.0))
    total = 0.0
    for i in range(5):  # image->text and text->image cross-entropy, one row at a time
        row = [10.0 * float(fi[i] @ ft[j]) for j in range(5)]
        col = [10.0 * float(fi[j] @ ft[i]) for j in range(5)]
        total += -row[i] + math.log(sum(math.exp(r) for r in row))
        total += -col[i] + math.log(sum(math.exp(c) for c in col))
    assert float(loss.clip_loss(fi, ft, log_scale)) == pytest.approx(total / 10, rel=1e-5)


def test_clip_loss_uses_exp_of_the_scale_and_clamps_at_100():
    fi = torch.nn.functional.normalize(torch.tensor([[1.0, 0.02], [0.02, 1.0], [0.7, 0.7]]), dim=1)
    a = loss.clip_loss(fi, fi, torch.tensor(math.log(50.0)))
    b = loss.clip_loss(fi, fi, torch.tensor(math.log(100.0)))
    c = loss.clip_loss(fi, fi, torch.tensor(math.log(1000.0)))
    assert a > b and float(b) == pytest.approx(float(c))


def test_clip_loss_masks_same_proposal_pairs():
    fi = torch.eye(3)
    ft = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1.0]])
    groups = torch.tensor([0, 0, 1])
    masked = loss.clip_loss(fi, ft, torch.tensor(0.0), groups)
    unmasked = loss.clip_loss(fi, ft, torch.tensor(0.0))
    assert masked < unmasked


def test_augment_draws_per_image_and_is_seeded():
    img = torch.arange(64 * 64, dtype=torch.float32).reshape(1, 1, 64, 64).repeat(8, 3, 1, 1).to(torch.uint8)
    a = data.augment(img, 32, torch.Generator().manual_seed(1), True, True, (0.75, 1.0))
    b = data.augment(img, 32, torch.Generator().manual_seed(1), True, True, (0.75, 1.0))
    assert a.shape == (8, 3, 32, 32)
    assert torch.equal(a, b)
    assert len({tuple(x.flatten()[:50].tolist()) for x in a}) > 1  # images in a batch get different draws


def test_augment_identity_when_disabled():
    img = torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8)
    out = data.augment(img, 16, torch.Generator().manual_seed(0), rot90=False, flip=False, crop_scale=(1.0, 1.0))
    assert torch.allclose(out, img.float(), atol=1e-3)


def test_sentence_fitter_keeps_whole_sentences_within_budget():
    _, _, tok = build_model(spec_of("full"))
    fitter = data.SentenceFitter(tok, 40)
    text = " ".join(f"Sentence number {i} talks about spiral galaxies and dust." for i in range(12))
    sents = data.split_sentences(text)
    for seed in range(5):
        out = fitter.sample(text, torch.Generator().manual_seed(seed))
        chosen = data.split_sentences(out)
        assert set(chosen) <= set(sents) and len(chosen) >= 1
        assert len(tok.encode(out)) <= 38
        assert [sents.index(s) for s in chosen] == sorted(sents.index(s) for s in chosen)
    assert fitter.leading(text).startswith("Sentence number 0")


def test_batches_are_a_function_of_seed_and_step():
    a = train.batch_indices(7, 50, 16, seed=0)
    assert np.array_equal(a, train.batch_indices(7, 50, 16, seed=0))
    epoch = np.concatenate([train.batch_indices(s, 48, 16, 0) for s in range(3)])
    assert sorted(epoch.tolist()) == list(range(48))  # one epoch visits every item once


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    cfg = demo.DemoConfig(n_proposals=16, min_images=2, max_images=2, image_size=48, seed=0)
    props = demo.proposals(cfg)
    obs = demo.observations_for_shard(cfg, 0, 1, tmp / "img")
    caps = dict(zip(props["proposal_id"], props["abstract"]))
    return tmp, obs[obs.proposal_id.astype(int) % 4 != 0], obs[obs.proposal_id.astype(int) % 4 == 0], caps


def _train(tmp, tr, va, caps, name, mode="full", stop_after=None, accum=1):
    cfg = train_config(steps=8, batch_size=8, accum_steps=accum, eval_every=4, checkpoint_every=2, warmup_steps=2)
    spec = spec_of(mode)
    return train.train(spec, cfg, tr, va, caps, str(tmp / f"{name}.pt"), str(tmp / f"{name}.csv"),
                       str(tmp / f"ckpt_{name}"), stop_after=stop_after)


def test_training_is_deterministic_and_resumes_to_the_same_result(tiny_data):
    tmp, tr, va, caps = tiny_data
    full = _train(tmp, tr, va, caps, "a")
    again = _train(tmp, tr, va, caps, "b")
    assert full["train_loss"].tolist() == again["train_loss"].tolist()
    # killed after 5 steps (last checkpoint at step 4), then resumed
    _train(tmp, tr, va, caps, "c", stop_after=5)
    resumed = _train(tmp, tr, va, caps, "c")
    assert resumed["step"].tolist() == list(range(1, 9))
    np.testing.assert_allclose(resumed["train_loss"], full["train_loss"], rtol=1e-5)
    wa, wc = load_state_dict(tmp / "a.pt"), load_state_dict(tmp / "c.pt")
    assert all(torch.allclose(wa[k], wc[k], atol=1e-6) for k in wa)
    assert np.isfinite(full["val_loss"].dropna()).all()


def test_head_mode_trains_only_the_heads(tiny_data):
    tmp, tr, va, caps = tiny_data
    _train(tmp, tr, va, caps, "h", mode="head")
    base, _, _ = build_model(spec_of("head"))
    trained = load_state_dict(tmp / "h.pt")
    for k, v in base.state_dict().items():
        if k.startswith("clip.") and "logit_scale" not in k:
            assert torch.equal(v, trained[k]), k
    assert any(not torch.equal(v, trained[k]) for k, v in base.state_dict().items() if "head" in k)


def _weights_close(a, b, atol):
    wa, wb = load_state_dict(a), load_state_dict(b)
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    assert worst < atol, worst


def test_gradient_accumulation_equals_the_whole_batch(tiny_data):
    """Micro-batches with cached features give the whole batch's gradient (logit scale included)."""
    tmp, tr, va, caps = tiny_data
    whole = _train(tmp, tr, va, caps, "acc1")
    acc = _train(tmp, tr, va, caps, "acc2", accum=2)
    assert len(acc) == 8
    np.testing.assert_allclose(acc["train_loss"], whole["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(acc["logit_scale"], whole["logit_scale"], rtol=1e-5)
    _weights_close(tmp / "acc1.pt", tmp / "acc2.pt", atol=1e-4)


def test_torchrun_ddp_with_two_cpu_processes_equals_one_process(tiny_data):
    """Two ranks under torchrun (gloo, CPU), each with half of every batch, train the same model as one."""
    from skytext.align import launch

    tmp, tr, va, caps = tiny_data
    obs = pd.concat([tr.assign(split="train"), va.assign(split="val")])
    obs.to_parquet(tmp / "ddp_obs.parquet")
    pd.DataFrame({"proposal_id": list(caps), "text": list(caps.values())}).to_parquet(tmp / "ddp_caps.parquet")
    spec = spec_of("full", caption="abstract")
    results = {}
    for n, accum in ((1, 1), (2, 1), (2, 2)):
        cfg = train_config(steps=6, batch_size=8, accum_steps=accum, eval_every=3, checkpoint_every=3,
                           warmup_steps=2)
        name = f"ddp{n}x{accum}"
        job = launch.make_job(spec, cfg, tmp / "ddp_obs.parquet", tmp / "ddp_caps.parquet", tmp / f"{name}.pt",
                              tmp / f"{name}.csv", tmp / f"ckpt_{name}")
        launch.run(job, processes=n, threads=2)
        results[name] = pd.read_csv(tmp / f"{name}.csv")
    assert (tmp / "ckpt_ddp2x1" / "job.json").exists()  # really went through torchrun
    for name in ("ddp2x1", "ddp2x2"):
        np.testing.assert_allclose(results[name]["train_loss"], results["ddp1x1"]["train_loss"], rtol=1e-4)
        np.testing.assert_allclose(results[name]["val_loss"].dropna(), results["ddp1x1"]["val_loss"].dropna(), rtol=1e-4)
        _weights_close(tmp / "ddp1x1.pt", tmp / f"{name}.pt", atol=1e-4)


def test_batch_that_does_not_split_over_processes_is_a_one_line_error():
    from skytext.align.distributed import World

    with pytest.raises(ValueError, match="batch of 9 does not split evenly over 2"):
        World(rank=0, size=2).part(9)


def test_shuffled_control_permutes_captions():
    caps = {str(i): f"text {i}" for i in range(20)}
    sh = train.shuffled_captions(list(caps), caps, seed=0)
    assert sorted(sh.values()) == sorted(caps.values())
    assert sum(sh[k] == caps[k] for k in caps) < 5


def test_training_processes_default_to_one_per_given_gpu():
    from skytext.images.models import processes_for

    assert processes_for(0, 0) == 1 and processes_for(0, 4) == 4 and processes_for(2, 4) == 2
