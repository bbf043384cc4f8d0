"""skytext.align.models.trimmed_text_features (a text batch's CLIP features computed only up to its last
end-of-text token: how the image study's queries, anchors and search evaluation are encoded) against open_clip's
own encode_text, on the shipped tiny configs and a full-size ViT-B-32 text tower; and the towers it must leave
alone."""

from __future__ import annotations

import json

import numpy as np
import open_clip
import pytest
import torch

from conftest import ROOT
from skytext.align.models import ModelSpec, build_model, trimmable, trimmed_text_features
from skytext.eval.query import encode_text, read_templates, TEMPLATES_FILE, query_texts

TEXTS = ["x", "cosmic ray hit", "a Hubble image of a barred spiral galaxy with a bright nucleus and dust lanes.",
         "We propose to image a sample of strongly lensed arcs around massive clusters of galaxies."]
LONG = "a globular cluster " * 40  # past the 77-token context: cut at the end, nothing to trim


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    a, b = a.float().numpy(), b.float().numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=2e-6 * max(1.0, float(np.abs(b).max())))


def tiny(arch: str, mode: str = "full") -> tuple:
    cfg = ROOT / "resources" / "model_configs" / f"{arch}.json"
    spec = ModelSpec(arch=arch, config_file=str(cfg), pretrained=None, mode=mode, head_hidden=16, weights=None,
                     caption="abstract", seed=0)
    model, _, tok = build_model(spec)
    return model.eval(), tok


@pytest.mark.parametrize("arch", ["skytext-tiny", "skytext-tiny-rn"])
def test_shipped_models_trim_to_the_same_features(arch):
    model, tok = tiny(arch)
    assert trimmable(model.clip)
    with torch.inference_mode():
        for texts in (TEXTS, TEXTS[:2], [TEXTS[0]], TEXTS + [LONG]):
            tokens = tok(texts)
            close(trimmed_text_features(model.clip, tokens), model.clip.encode_text(tokens))


def test_a_full_size_text_tower_trims_to_the_same_features():
    """ViT-B-32 (the PAPERCLIP base; random weights: no hub here) and its own tokenizer; a query's templates."""
    torch.manual_seed(0)
    clip = open_clip.create_model("ViT-B-32").eval()
    tok = open_clip.get_tokenizer("ViT-B-32")
    assert trimmable(clip)
    texts = query_texts("cosmic ray hit", read_templates(TEMPLATES_FILE))[:6] + TEXTS[2:]
    with torch.inference_mode():
        close(trimmed_text_features(clip, tok(texts)), clip.encode_text(tok(texts)))


@pytest.mark.parametrize("mode", ["full", "head"])
def test_skyclip_and_the_query_encoder_trim_to_the_same_embeddings(mode):
    """SkyClip.encode_text(trim=True) (through the text head in head mode) and eval.query.encode_text, which
    trims, against the untrimmed features."""
    model, tok = tiny("skytext-tiny", mode)
    with torch.inference_mode():
        want = model.encode_text(tok(TEXTS), trim=False)
        close(model.encode_text(tok(TEXTS), trim=True), want)
    close(torch.from_numpy(encode_text(model, tok, TEXTS, "cpu")), want)


def tiny_clip(cls=open_clip.model.CLIP, **text_cfg):
    """The shipped tiny architecture as an open_clip CLIP (random weights) with ``text_cfg`` changes."""
    cfg = json.loads((ROOT / "resources" / "model_configs" / "skytext-tiny.json").read_text())
    torch.manual_seed(0)
    return cls(cfg["embed_dim"], cfg["vision_cfg"], {**cfg["text_cfg"], **text_cfg}).eval()


def test_end_of_text_pooling_by_token_id_trims_too():
    """``eos`` pooling (the end-of-text token found by its id, as some tokenizers need) is cut the same way."""
    clip = tiny_clip(pool_type="eos", eos_id=49407)
    assert clip.text_pool_type == "eos" and trimmable(clip)
    tokens = open_clip.get_tokenizer("skytext-tiny")(TEXTS + [LONG])
    with torch.inference_mode():
        close(trimmed_text_features(clip, tokens), clip.encode_text(tokens))
        close(trimmed_text_features(clip, tokens[:2]), clip.encode_text(tokens[:2]))


def test_training_mode_and_autocast():
    """A tower in training mode is never cut (dropout; the probe was made in eval mode); a bf16 autocast on the
    first call does not refuse the tower for later float32 calls (the probe runs without autocast)."""
    clip = tiny_clip()
    tokens = open_clip.get_tokenizer("skytext-tiny")(TEXTS)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        trimmed_text_features(clip, tokens)
    assert trimmable(clip)
    clip.train()
    torch.manual_seed(1)
    a = trimmed_text_features(clip, tokens)
    torch.manual_seed(1)
    assert torch.equal(a, clip.encode_text(tokens))


@pytest.mark.parametrize("cfg", [{"no_causal_mask": True}, {"pool_type": "last"}])
def test_towers_whose_padding_matters_are_not_trimmed(cfg):
    """Without a causal mask every position sees the padding; pooling the last position reads it. Both are
    encoded in full, giving encode_text's features bit for bit."""
    clip = tiny_clip(**cfg)
    assert not trimmable(clip)
    tokens = open_clip.get_tokenizer("skytext-tiny")(TEXTS)
    with torch.inference_mode():
        assert torch.equal(trimmed_text_features(clip, tokens), clip.encode_text(tokens))


def test_a_model_with_its_own_encode_text_is_not_trimmed():
    class Own(open_clip.model.CLIP):
        def encode_text(self, text, normalize: bool = False):
            return super().encode_text(text, normalize) * 2

    assert not trimmable(tiny_clip(Own))


def _fails(clip, tokens):
    raise RuntimeError("the cut does not run")


@pytest.mark.parametrize("cut", [lambda clip, tokens: clip.encode_text(tokens) + 1e-3, _fails])
def test_a_tower_that_fails_the_probe_is_not_trimmed(monkeypatch, caplog, cut):
    """The once-per-model probe: cut features that differ from encode_text's, or a cut that raises, switch
    trimming off for that model, with a logged warning; its features are encode_text's."""
    from skytext.align import models

    model, tok = tiny("skytext-tiny")
    monkeypatch.setattr(models, "_cut_text_features", cut)
    assert not trimmable(model.clip)
    assert "text tower not trimmed" in caplog.text
    with torch.inference_mode():
        assert torch.equal(trimmed_text_features(model.clip, tok(TEXTS)), model.clip.encode_text(tok(TEXTS)))
