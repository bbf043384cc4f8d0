"""The web app's one-query text encoders (skytext.align.text_encoder.encode_one and QueryEncoder) against the
model's own batch encoding, on texts no test chose the lengths of, and QueryEncoder's fall-back to the eager
path whenever its traced forward cannot be trusted."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from skytext.align import text_encoder

TEXTS = ["x", "", "absorbed hard X-ray source with an iron line", "word " * 400, "é 中文 <script>",
         "a bogus detection caused by a saturated star", "Fe XXV 6.7 keV; NH = 1e22 cm^-2 (Chandra/ACIS-S)"]


@pytest.fixture(scope="module")
def model():
    from skytext.core.config import defaults

    return text_encoder.load(defaults("spectra.text_encoder")["model"], device="cpu")


def test_one_query_encoding_is_the_batch_encoding(model):
    """encode_one (the eager query path) == encode, bit for bit."""
    for text in TEXTS:
        np.testing.assert_array_equal(text_encoder.encode_one(model, text), text_encoder.encode(model, [text], 64)[0])


def test_the_traced_query_encoder_is_the_model(model):
    """QueryEncoder traces the default model and then encodes every text as encode does, to float32 rounding,
    whatever its length (one token to past the model's longest input)."""
    enc = text_encoder.QueryEncoder(model, 1e-6)
    assert enc.traced is not None and enc.reason == ""
    rng = np.random.default_rng(0)
    words = "the a galaxy cluster lensed arc X-ray iron line bogus saturated star hot pixel dwarf nova".split()
    texts = TEXTS + [" ".join(rng.choice(words, n)) for n in (1, 2, 5, 17, 60, 300)]
    got = np.stack([enc(t) for t in texts])
    want = text_encoder.encode(model, texts, 64)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)


def test_the_traced_encoder_gives_the_same_answers_from_many_threads(model):
    """A server encodes from several threads at once: each text still gets its own vector."""
    enc = text_encoder.QueryEncoder(model, 1e-6)
    texts = [f"{w} number {i}" for i, w in enumerate(["quasar", "pulsar", "nebula", "comet"] * 4)]
    want = {t: text_encoder.encode_one(model, t) for t in texts}
    got, errors = {}, []

    def work(ts):
        try:
            for t in ts:
                got[t] = enc(t)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(texts[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for t in texts:
        np.testing.assert_allclose(got[t], want[t], rtol=0, atol=1e-6)


def test_a_traced_encoder_that_differs_is_not_used(model):
    """The probe check gates the traced path: with a tolerance nothing meets, every query runs eagerly."""
    enc = text_encoder.QueryEncoder(model, -1.0)
    assert enc.traced is None and "differs from the model" in enc.reason
    np.testing.assert_array_equal(enc("globular cluster"), text_encoder.encode_one(model, "globular cluster"))


def test_a_model_it_cannot_trace_runs_eagerly(model, monkeypatch):
    """A first module that is not a transformer giving token embeddings is not traced; the reason names it."""
    config = {"text": {"method": "forward", "method_output_name": "pooler_output"}}
    monkeypatch.setattr(model[0], "modality_config", config)
    enc = text_encoder.QueryEncoder(model, 1e-6)
    assert enc.traced is None and "not traced" in enc.reason and "token embeddings" in enc.reason
    monkeypatch.undo()
    np.testing.assert_array_equal(enc("dwarf galaxy"), text_encoder.encode_one(model, "dwarf galaxy"))


def test_a_query_the_trace_fails_on_is_encoded_eagerly(model, monkeypatch, caplog):
    """A traced call that raises (e.g. a size the trace fixed) does not fail the query: it is encoded eagerly,
    with a logged warning."""
    enc = text_encoder.QueryEncoder(model, 1e-6)

    def broken(*tensors):
        raise RuntimeError("The size of tensor a (9) must match the size of tensor b (12)")

    monkeypatch.setattr(enc, "traced", broken)
    np.testing.assert_array_equal(enc("dwarf galaxy"), text_encoder.encode_one(model, "dwarf galaxy"))
    assert "encoding eagerly" in caplog.text


def test_a_trace_that_fails_on_a_probe_is_not_used(model, monkeypatch):
    """A trace that runs on its own example but raises on a probe text of another length is not used."""
    real = text_encoder.QueryEncoder._traced

    def fails_when_long(self, text):
        if len(text) > 100:
            raise RuntimeError("The expanded size of the tensor must match the existing size")
        return real(self, text)

    monkeypatch.setattr(text_encoder.QueryEncoder, "_traced", fails_when_long)
    enc = text_encoder.QueryEncoder(model, 1e-6)
    assert enc.traced is None and enc.reason.startswith("not traced (RuntimeError")


def test_the_web_app_logs_why_it_encodes_eagerly(monkeypatch, caplog):
    """serve.textsearch.query_encoder builds one encoder per model, and says so when it cannot be traced."""
    import skytext.serve.textsearch as ts
    from skytext.core.config import defaults

    name = defaults("spectra.text_encoder")["model"]
    monkeypatch.setattr(ts, "_QUERY", {})
    monkeypatch.setattr(ts, "QUERY_TOLERANCE", -1.0)
    enc = ts.query_encoder(name)
    assert enc is ts.query_encoder(name) and enc.traced is None
    assert "queries run eagerly" in caplog.text and "differs from the model" in caplog.text
