"""skytext.eval.search.ScreenedKeys (the web app's search of large indices: an 8-bit FAISS screen, then the exact
scan of the candidates, certified) against the engine's exact top-k; its bound against every key's real
error; and the pieces of the web app's search path that use it."""

from __future__ import annotations

import numpy as np
import pytest

from skytext.eval.search import ScreenedKeys, topk

CHUNK = 1 << 17


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact(q, keys, k, w=None):
    return topk(q, keys, k, CHUNK, "cpu", key_weights=w)


def weights(rng, kind, n):
    if kind is None:
        return None
    if kind == "uniform":  # as the calibrations' scales on the demo (max / median 1.3-1.4)
        return rng.uniform(0.7, 1.4, n).astype(np.float32)
    return rng.lognormal(0.0, 1.0, n).astype(np.float32)  # heavy-tailed: a few keys weigh 20x the median


@pytest.mark.parametrize("d", [8, 96, 384])
@pytest.mark.parametrize("kind", [None, "uniform", "heavy"])
def test_screened_topk_is_the_exact_topk(rng, d, kind):
    """Indices equal the exact scan's and scores agree to float32 rounding, for single queries and a batch,
    with few candidates (so that second screens happen) and with the default."""
    keys = unit(rng, 3000, d)
    keys[:200] *= rng.uniform(0.2, 3.0, (200, 1)).astype(np.float32)  # not all unit rows
    w = weights(rng, kind, 3000)
    q = rng.standard_normal((12, d)).astype(np.float32)
    q[0] = keys[17] * 3  # a query on a key
    for cand in (12, 64):
        s = ScreenedKeys(keys, w, candidates=cand)
        for k in (1, 5, 10):
            want_v, want_i = exact(q, keys, k, w)
            got_v, got_i = s.topk(q, k, CHUNK)
            np.testing.assert_array_equal(got_i, want_i)
            np.testing.assert_allclose(got_v, want_v, rtol=1e-5, atol=1e-6)
            for j in range(3):  # one query at a time, as the app asks
                np.testing.assert_array_equal(s.topk(q[j : j + 1], k, CHUNK)[1], want_i[j : j + 1])
        assert s.screened + s.fallbacks == 3 * (12 + 3)
        if cand == 64 and kind != "heavy":  # the screen earns its keep: most queries certified at once
            assert s.first_screen >= 0.8 * 3 * (12 + 3), (s.first_screen, s.screened, s.fallbacks)


@pytest.mark.parametrize("kind", [None, "uniform", "heavy"])
def test_the_bound_holds_for_every_key_and_is_not_vacuous(rng, kind):
    """For every key, the real score (float64) and the screen's estimate differ by at most the certificate's
    ``err``; and with weights of one scale ``err`` is small against the spread of scores (else every query
    would fall back). Heavy-tailed weights (a few keys 20x the median) make it loose: sound, not useful."""
    n, d = 4000, 64
    keys = unit(rng, n, d) * rng.uniform(0.5, 1.5, (n, 1)).astype(np.float32)
    keys += 2 * unit(rng, 1, d)  # a direction every key shares, as real embeddings do (the screen centres it)
    w = weights(rng, kind, n)
    s = ScreenedKeys(keys, w)
    real_keys = keys.astype(np.float64) * (1.0 if w is None else w.astype(np.float64)[:, None])
    for _ in range(10):
        q = rng.standard_normal(d).astype(np.float32) * rng.uniform(0.1, 10)
        codes, alpha, offset, err = s.query_codes(q)
        approx, idx = s.index.search(codes, n)  # every key's screen score
        est = np.empty(n)
        est[idx[0]] = offset + alpha * approx[0].astype(np.float64)
        real = real_keys @ q.astype(np.float64)
        assert np.all(np.abs(real - est) <= err)
        assert kind == "heavy" or err < 0.3 * real.std()


def test_ties_at_the_cut_are_screened_again_or_scanned_in_full(rng):
    """Forty copies of the best key: the first screen's candidates are all copies and cannot be certified;
    the answer is still the exact scan's (the lowest indices among equal scores)."""
    keys = unit(rng, 2000, 32)
    keys[100:140] = keys[7]
    q = keys[7:8] * 2
    s = ScreenedKeys(keys, candidates=16)
    np.testing.assert_array_equal(s.topk(q, 5, CHUNK)[1], exact(q, keys, 5)[1])
    assert s.first_screen == 0 and s.screened + s.fallbacks == 1
    np.testing.assert_array_equal(s.topk(q, 41, CHUNK)[1], exact(q, keys, 41)[1])  # 82 candidates: the copies and more


def test_zero_query_memory_map_and_bad_input(rng, tmp_path):
    keys = unit(rng, 500, 16)
    np.save(tmp_path / "k.npy", keys.astype(np.float16))
    mapped = np.load(tmp_path / "k.npy", mmap_mode="r")
    s = ScreenedKeys(mapped, candidates=8)
    assert isinstance(s.array, np.memmap)  # the map stays a map
    q = unit(rng, 4, 16)
    np.testing.assert_array_equal(s.topk(q, 6, CHUNK)[1], exact(q, mapped, 6)[1])
    np.testing.assert_array_equal(s.topk(np.zeros((1, 16), np.float32), 3, CHUNK)[1], [[0, 1, 2]])
    assert s.fallbacks == 1  # the zero query
    bad = keys.copy()
    bad[33, 4] = np.inf
    with pytest.raises(ValueError, match="keys row 33"):
        ScreenedKeys(bad)
    with pytest.raises(ValueError, match="queries row 1"):
        s.topk(np.vstack([q[0], np.full(16, np.nan, np.float32)]), 3, CHUNK)
    with pytest.raises(ValueError, match="width 8"):
        s.topk(unit(rng, 1, 8), 3, CHUNK)
    with pytest.raises(ValueError, match="k must be"):
        s.topk(q, 0, CHUNK)
    with pytest.raises(ValueError, match="key_weights must be 500"):
        ScreenedKeys(keys, np.ones(3))
    with pytest.raises(ValueError, match="empty"):
        ScreenedKeys(np.zeros((0, 16), np.float32))


def test_the_engines_topk_takes_screened_keys(rng):
    """``topk(q, screened, ...)`` answers through the screen with the screen's weights (the same weights
    given again are accepted, others refused); another precision or normalising scans the keys in full."""
    keys, q = unit(rng, 3000, 24), unit(rng, 3, 24) * 2
    w = rng.uniform(0.5, 2.0, 3000).astype(np.float32)
    s = ScreenedKeys(keys, w)
    for kw in ({}, {"key_weights": w}, {"key_weights": w.copy()}):
        np.testing.assert_array_equal(topk(q, s, 10, CHUNK, "cpu", **kw)[1], exact(q, keys, 10, w)[1])
    assert s.screened == 9
    with pytest.raises(ValueError, match="differ"):
        topk(q, s, 10, CHUNK, "cpu", key_weights=w * 2)
    plain = ScreenedKeys(keys)
    with pytest.raises(ValueError, match="differ"):
        topk(q, plain, 10, CHUNK, "cpu", key_weights=w)
    want = topk(q, keys, 10, CHUNK, "cpu", normalize=True, matmul_dtype="float64")
    got = topk(q, plain, 10, CHUNK, "cpu", normalize=True, matmul_dtype="float64")
    np.testing.assert_array_equal(got[1], want[1])
    assert plain.screened == 0


def test_a_scan_that_does_not_sum_as_assumed_is_refused(rng):
    """The build-time check: a FAISS scan whose sums are off by one unit makes the index refuse to exist."""
    s = ScreenedKeys(unit(rng, 300, 16))

    class OffByOne:
        def __init__(self, index):
            self.index = index

        def search(self, q, k):
            v, i = self.index.search(q, k)
            return v + 1.0, i

        def reconstruct_batch(self, ids):
            return self.index.reconstruct_batch(ids)

    s.index = OffByOne(s.index)
    with pytest.raises(ValueError, match="does not sum"):
        s._check_sums(np.random.default_rng(0))


def test_calibrated_search_over_screened_keys_is_the_engines(rng, monkeypatch):
    """The web app's calibrated text index gives the same hits, scores and cosines with the screen (an index of
    SCREEN_MIN_KEYS keys or more) as with the exact scan."""
    import skytext.serve.textsearch as ts

    keys, bg = unit(rng, 3000, 24), unit(rng, 30, 24)
    texts = [f"query {i}" for i in range(8)]
    table = {t: v for t, v in zip(texts, unit(rng, 8, 24))}

    def encode(qs):
        return bg if len(qs) == len(bg) else np.stack([table[t] for t in qs])

    ids = [f"k{i}" for i in range(3000)]
    monkeypatch.setattr(ts, "SCREEN_MIN_KEYS", 10**9)
    plain = ts.TextIndex(keys, ids, encode, background=[f"b{i}" for i in range(30)])
    monkeypatch.setattr(ts, "SCREEN_MIN_KEYS", 1000)
    fast = ts.TextIndex(keys, ids, encode, background=[f"b{i}" for i in range(30)])
    assert isinstance(fast.keys, ScreenedKeys) and not isinstance(plain.keys, ScreenedKeys)
    assert fast.scales is fast.keys.weights  # searched without comparing the weights at every query
    np.testing.assert_array_equal(fast.scales, plain.scales)
    for t in texts:
        a, b = fast.search(t, 10), plain.search(t, 10)
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5)
        np.testing.assert_allclose([h.cosine for h in a], [h.cosine for h in b], rtol=1e-6)
    assert fast.keys.screened >= len(texts)
    monkeypatch.setattr(ts, "SCREEN_MIN_KEYS", 100)
    assert ts.screened(keys[:50]) is not None and not isinstance(ts.screened(keys[:50]), ScreenedKeys)
    bad = keys.copy()
    bad[5, 0] = np.nan
    assert ts.screened(bad) is bad  # a failed build keeps the exact scan (logged)

