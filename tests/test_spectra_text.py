"""Text side: the local model folder, pooling per source, and OpenAI embeddings with faults (loopback fake)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from skytext.align.text_encoder import model_folder
from skytext.core.config import defaults
from skytext.spectra.texts import embed, pool, summary_texts


def test_model_folder_inside_package():
    folder = model_folder(defaults("spectra.text_encoder")["model"])
    assert (folder / "config_sentence_transformers.json").exists() or (folder / "modules.json").exists()
    with pytest.raises(FileNotFoundError, match="not installed"):
        model_folder("pkg:no_such_package_xyz")


def test_pool_means_each_sources_texts():
    vec = np.eye(3, dtype=np.float32)
    links = pd.DataFrame({"text_id": ["a", "b", "b", "c"], "source_id": ["s1", "s1", "s2", "s9"]})
    sources = pd.DataFrame({"source_id": ["s1", "s2", "s3"], "split": ["train", "test", "val"]})
    pooled, meta = pool(vec, pd.Series(["a", "b", "c"]), links, sources, "equal")
    assert meta["source_id"].tolist() == ["s1", "s2"]  # s3 has no paper: absent
    assert np.allclose(pooled[0], np.array([1, 1, 0]) / np.sqrt(2)) and np.allclose(pooled[1], [0, 1, 0])
    assert meta["paper_set"].tolist() == ["a|b", "b"]
    # per_source: b discusses two sources, so it counts half as much as a, which discusses s1 alone
    weighted, meta2 = pool(vec, pd.Series(["a", "b", "c"]), links, sources, "per_source")
    assert np.allclose(weighted[0], np.array([1, 0.5, 0]) / np.sqrt(1.25)) and np.allclose(weighted[1], [0, 1, 0])
    assert meta2.equals(meta)


class _Fake(BaseHTTPRequestHandler):
    calls = []

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Fake.calls.append(body)
        n = len(_Fake.calls)
        if n == 1:
            return self._send(503, {"error": {"message": "busy"}})
        if n == 2:
            return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
        if any("POISON" in t for t in body["input"]):
            return self._send(400, {"error": {"message": "bad input", "type": "invalid_request_error"}})
        data = [{"object": "embedding", "index": i, "embedding": [len(t), 1.0, 0.5]} for i, t in enumerate(body["input"])]
        self._send(200, {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _send(self, code, obj, headers=None):
        raw = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)


def test_openai_embeddings_retry_cache_and_reject(tmp_path, monkeypatch):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Fake.calls = []
    monkeypatch.setenv("SPECTRA_TEST_KEY", "sk-test")
    cfg = {**defaults("spectra.text_encoder"), "backend": "openai", "model": "text-embedding-3-small",
           "base_url": f"http://127.0.0.1:{srv.server_port}/v1", "api_key_env": "SPECTRA_TEST_KEY",
           "cache_dir": str(tmp_path / "cache"), "batch_size": 2}
    llm = {**defaults("llm"), "backoff_s": 0.0, "backoff_max_s": 0.0}
    texts = pd.DataFrame({"text_id": ["t1", "t2", "t3", "t4"], "text": ["aa", "bbbb", "POISON", "cc"]})
    try:
        vec, ids, rej = embed(texts, cfg, llm)
        assert ids["text_id"].tolist() == ["t1", "t2"]  # the batch holding POISON is rejected, not dropped
        assert set(rej["record_id"]) == {"t3", "t4"} and (rej["reason"] != "").all()
        assert np.allclose(np.linalg.norm(vec, axis=1), 1)
        n = len(_Fake.calls)
        vec2, ids2, _ = embed(texts.iloc[:2], cfg, llm)  # cached: no new call
        assert len(_Fake.calls) == n and np.allclose(vec2, vec)
    finally:
        srv.shutdown()
    assert "sk-test" not in json.dumps(_Fake.calls)


def test_summary_texts_use_the_paper_text_offline():
    papers = pd.DataFrame({"text_id": ["a"], "title": ["T"], "abstract": ["Body."]})
    assert summary_texts(papers, None)["text"].tolist() == ["T. Body."]


def test_sentence_granularity_embeds_each_sentence_and_averages(monkeypatch):
    """granularity sentence: a paper's embedding is the L2-normalised mean of its sentences' embeddings."""
    from skytext.spectra import texts as T

    assert T.sentences("We report a ULX. The spectrum is soft, with N_H = 1.2e21 cm^-2. It lies at z = 0.4.") == [
        "We report a ULX.", "The spectrum is soft, with N_H = 1.2e21 cm^-2.", "It lies at z = 0.4."]
    assert T.sentences("no end") == ["no end"]
    table = {"A one.": [1.0, 0.0], "B two.": [0.0, 1.0], "C.": [3.0, 4.0], "A one. B two.": [0.0, 2.0]}
    seen = []

    def fake(units, cfg, llm):
        seen.append(list(units))
        return np.array([table[u] for u in units], np.float32), list(range(len(units))), {}

    monkeypatch.setattr(T, "_embed_units", fake)
    texts = pd.DataFrame({"text_id": ["p1", "p2"], "text": ["A one. B two.", "C."]})
    cfg = {**defaults("spectra.text_encoder"), "granularity": "sentence"}
    vec, ids, rej = T.embed(texts, cfg, {})
    assert seen[-1] == ["A one.", "B two.", "C."] and ids["text_id"].tolist() == ["p1", "p2"] and len(rej) == 0
    assert np.allclose(vec, [[2 ** -0.5, 2 ** -0.5], [0.6, 0.8]])
    vec, _, _ = T.embed(texts, {**cfg, "granularity": "text"}, {})
    assert seen[-1] == ["A one. B two.", "C."] and np.allclose(vec, [[0, 1], [0.6, 0.8]])
