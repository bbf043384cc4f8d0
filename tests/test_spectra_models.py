"""The spectral autoencoder, the projection heads and the mixture of experts on tiny inputs."""

import numpy as np
import pytest
import torch

from skytext.spectra import ae
from skytext.spectra.align import fit_pair, project
from skytext.spectra.moe import Regressor

AE_CFG = {"latent": 4, "patch": 4, "d_model": 16, "layers": 1, "heads": 2, "epochs": 3, "batch_size": 16,
          "lr": 0.003, "weight_decay": 0.0, "device": "cpu"}


def _spectra(n=64, ch=16, seed=0):
    rng = np.random.default_rng(seed)
    slope = rng.uniform(-2, 0, n)
    rate = 20 * np.exp(slope[:, None] * np.linspace(0, 2, ch)[None])
    return rng.poisson(rate).astype(np.float32), slope


def test_poisson_loss_is_minimised_at_the_rate():
    counts = torch.tensor([[3.0, 0.0, 7.0]])
    best = ae.poisson_loss(torch.log(counts.clamp(min=1e-6)), counts)
    for shift in (-0.3, 0.3):
        assert ae.poisson_loss(torch.log(counts.clamp(min=1e-6)) + shift, counts) > best


def test_ae_learns_and_resumes(tmp_path, monkeypatch):
    x, _ = _spectra()
    model, hist = ae.fit(x[:48], x[48:], AE_CFG, seed=1)
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    z = ae.encode(model, x)
    assert z.shape == (64, 4) and np.isfinite(z).all()
    # killed during the second epoch, then resumed from the checkpoint == three epochs straight through
    ck = tmp_path / "last.pt"
    real, calls = ae.train_epoch, []

    def dying(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(*args)

    monkeypatch.setattr(ae, "train_epoch", dying)
    with pytest.raises(RuntimeError):
        ae.fit(x[:48], x[48:], AE_CFG, seed=1, checkpoint=ck)
    monkeypatch.setattr(ae, "train_epoch", real)
    m2, h2 = ae.fit(x[:48], x[48:], AE_CFG, seed=1, checkpoint=ck)
    assert len(h2) == 3 and np.allclose(ae.encode(m2, x), z, atol=1e-5)


def test_heads_align_matching_pairs():
    rng = np.random.default_rng(0)
    spec = rng.normal(size=(120, 6)).astype(np.float32)
    text = np.tanh(spec @ rng.normal(size=(6, 20))).astype(np.float32) + 0.05 * rng.normal(size=(120, 20)).astype(np.float32)
    cfg = {"dim": 8, "hidden": 32, "epochs": 40, "batch_size": 32, "lr": 0.003, "weight_decay": 0.0, "dropout": 0.0}
    keys = [str(i) for i in range(120)]
    m, _ = fit_pair(spec[:100], text[:100], keys[:100], spec[100:], text[100:], keys[100:], cfg, 0)
    s, t = project([m], spec[100:], text[100:])
    assert np.allclose(np.linalg.norm(s, axis=1), 1, atol=1e-5)
    sim = s @ t.T
    hits = (sim.argmax(1) == np.arange(20)).mean()
    assert hits > 0.3  # chance is 0.05


def test_moe_uses_the_informative_expert_and_masks_missing_ones():
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    y = np.stack([b[:, 0] * 2, a[:, 1]], 1)
    y[::7, 1] = np.nan  # a variable not meaningful for some rows
    avail = np.ones((n, 2), bool)
    avail[::5, 1] = False
    cfg = {"hidden": 16, "epochs": 300, "lr": 0.01, "weight_decay": 0.0, "patience": 50}
    reg = Regressor("moe", cfg, 0).fit([a[:200], b[:200]], avail[:200], y[:200], [a[200:250], b[200:250]],
                                       avail[200:250], y[200:250])
    w = reg.gate_weights([a, b], avail)
    assert np.allclose(w[::5, 1], 0)  # unavailable expert gets no weight
    p = reg.predict([a[250:], b[250:]], avail[250:])
    ok = avail[250:, 1]
    r2 = 1 - ((p[ok, 0] - y[250:][ok, 0]) ** 2).mean() / y[250:][ok, 0].var()
    assert r2 > 0.7


def _toy_study(n=60, seed=0):
    """Sources (with a split), pooled texts, papers and links of a toy study: each source has its own paper,
    sources 0-9 also share a population paper."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = [f"S{i:02d}" for i in range(n)]
    split = np.where(np.arange(n) % 5 == 0, "val", "train")
    src = pd.DataFrame({"source_id": ids, "split": split})
    links = pd.DataFrame([{"text_id": f"P{i}", "source_id": s} for i, s in enumerate(ids)]
                         + [{"text_id": "POP", "source_id": s} for s in ids[:10]])
    paper_ids = [f"P{i}" for i in range(n)] + ["POP"]
    papers = rng.normal(size=(len(paper_ids), 5)).astype(np.float32)
    sets = links.groupby("source_id")["text_id"].apply(lambda t: "|".join(sorted(t)))
    tmeta = pd.DataFrame({"source_id": ids, "split": split, "paper_set": [sets[s] for s in ids]})
    latent = rng.normal(size=(n, 3)).astype(np.float32)
    text = rng.normal(size=(n, 5)).astype(np.float32)
    return latent, src, text, tmeta, papers, paper_ids, links


def test_shuffled_control_breaks_only_the_pairing():
    """The control keeps the model's texts, group keys, augmentation and batch structure exactly; every text
    group is paired with one other training source's spectrum (never its own), consistently across its pairs."""
    from skytext.spectra.align import training_pairs

    latent, src, text, tmeta, papers, paper_ids, links = _toy_study()
    aug = np.stack([latent + 0.01, latent - 0.01])
    model = training_pairs(latent, src, text, tmeta, papers, paper_ids, links, aug, None)
    ctrl = training_pairs(latent, src, text, tmeta, papers, paper_ids, links, aug, 7)
    assert np.array_equal(model[1], ctrl[1]) and model[2] == ctrl[2] and len(model[0]) == len(ctrl[0])
    own = dict(zip(model[2], model[3]))  # key -> the row of its own source (unshuffled)
    paired = {}
    for key, row in zip(ctrl[2], ctrl[3]):
        paired.setdefault(key, set()).add(int(row))
    assert all(len(rows) == 1 for rows in paired.values())  # one spectrum source per text group
    assert all(own[k] not in rows for k, rows in paired.items())  # never the true partner
    train_rows = sorted(own.values())
    assert sorted(r for rows in paired.values() for r in rows) == train_rows  # a permutation of training sources
    # the augmented copies pair the same source's redrawn spectra with the same texts
    n = len(ctrl[3]) // 3
    assert np.array_equal(ctrl[0][n: 2 * n], aug[0][ctrl[3][:n]])


def test_moe_falls_back_to_exactly_the_spectral_model():
    from skytext.spectra.regression import fit_predict, score_subsets

    rng = np.random.default_rng(3)
    n = 240
    spec = rng.normal(size=(n, 4)).astype(np.float32)
    text = rng.normal(size=(n, 6)).astype(np.float32)
    shared = rng.normal(size=(n, 5)).astype(np.float32)
    y = np.c_[spec[:, 0] + 0.1 * rng.normal(size=n), text[:, 0] + spec[:, 1]]
    has = rng.random(n) > 0.3
    text[~has], shared[~has] = 0, 0
    y[~has & (np.arange(n) % 2 == 0), 1] = np.nan  # a variable missing for part of the subset
    split = np.array(["train", "val", "test", "train"] * (n // 4))
    cfg = {"hidden": 16, "epochs": 40, "lr": 0.01, "weight_decay": 0.0, "patience": 10}
    preds, moe = fit_predict([spec, text, shared], has, y, split, cfg, 0)
    assert np.array_equal(preds["moe"][~has], preds["spectral"][~has])
    assert not np.array_equal(preds["moe"][has], preds["spectral"][has])
    y_test = y.copy()
    y_test[(split == "test") & ~has, 1] = np.nan  # the whole subset lacks variable 2
    table = score_subsets(y_test, preds, has, split == "test", ["a", "b"], 20, 0)
    mean = table[table["variable"] == "mean"].set_index(["subset", "features"])
    n_without = int(((split == "test") & ~has).sum())
    assert mean.loc[("without_papers", "moe"), "n"] == n_without > 0
    assert mean.loc[("without_papers", "moe"), "r2"] == mean.loc[("without_papers", "spectral"), "r2"]
    assert mean.loc[("with_papers", "spectral"), "n"] == int(((split == "test") & has).sum())


def test_saved_text_heads_reproduce_the_text_tower_with_numpy(tmp_path):
    """ensemble.npz holds each member's text head (text_head{k}_w0/b0/w1/b1); numpy applying them (Linear,
    exact GELU, Linear, L2-normalise, members concatenated / sqrt(members)) gives project()'s text tower."""
    import math

    import pandas as pd
    from scipy.special import erf

    from skytext.spectra.align import run_align

    latent, src, text, tmeta, papers, paper_ids, links = _toy_study()
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    p = {k: str(tmp_path / k) for k in ("z.npy", "aug.npy", "src.parquet", "t.npy", "tm.parquet", "p.npy",
                                        "pid.parquet", "l.parquet", "ens.npz", "shf.npz", "h.csv", "sh.npy",
                                        "shid.parquet")}
    np.save(p["z.npy"], latent), np.save(p["aug.npy"], np.stack([latent + 0.01]))
    src.to_parquet(p["src.parquet"]), tmeta.to_parquet(p["tm.parquet"]), links.to_parquet(p["l.parquet"])
    np.save(p["t.npy"], text), np.save(p["p.npy"], papers)
    pd.DataFrame({"text_id": paper_ids}).to_parquet(p["pid.parquet"])
    cfg = {"dim": 4, "hidden": 8, "epochs": 2, "batch_size": 16, "lr": 0.003, "weight_decay": 0.0, "dropout": 0.3,
           "ensemble": 3}
    run_align(p["z.npy"], p["aug.npy"], p["src.parquet"], p["t.npy"], p["tm.parquet"], p["p.npy"], p["pid.parquet"],
              p["l.parquet"], ["ensemble", "shuffled"], [p["ens.npz"], p["shf.npz"]], p["h.csv"], p["sh.npy"],
              p["shid.parquet"], cfg, 0, 1)
    z = np.load(p["ens.npz"])
    assert not any(k.startswith("text_head") for k in np.load(p["shf.npz"]).files)
    outs = []
    for k in range(3):
        w0, b0, w1, b1 = (z[f"text_head{k}_{n}"] for n in ("w0", "b0", "w1", "b1"))
        assert w0.shape == (8, 5) and b0.shape == (8,) and w1.shape == (4, 8) and b1.shape == (4,)
        h = text @ w0.T + b0
        y = (0.5 * h * (1 + erf(h / math.sqrt(2)))) @ w1.T + b1
        outs.append(y / np.linalg.norm(y, axis=1, keepdims=True))
    assert "text_head3_w0" not in z.files
    assert np.allclose(np.concatenate(outs, 1) / math.sqrt(3), z["text"], atol=1e-5)
    # rebuilt from the arrays as the study's heads (the web app's route into the shared space), exactly
    from skytext.spectra.align import text_heads, tower

    saved = [tuple(z[f"text_head{k}_{n}"] for n in ("w0", "b0", "w1", "b1")) for k in range(3)]
    np.testing.assert_allclose(tower(text_heads(saved), text), z["text"], atol=1e-6, rtol=0)
