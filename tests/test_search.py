"""skytext.eval.search (chunked top-k and ranks) against brute force, its CLI on a tiny open_clip model, and vocab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from functools import partial

from skytext.eval import search as _search
ranks_of_any_target = partial(_search.ranks_of_any_target, device="cpu")  # the CPU, as every test here
ranks_of_targets = partial(_search.ranks_of_targets, device="cpu")  # the CPU, as every test here
topk = partial(_search.topk, device="cpu")  # the CPU, as every test here
from skytext.search_cli import main
from skytext.core.vocab import read_lines

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
CHUNKS = [1, 7, 16, 64, 1000]  # 7 and 64 do not divide the sizes below; 1000 exceeds them


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_topk(s: np.ndarray, k: int) -> np.ndarray:
    """Plain Python: key indices by (descending score, ascending index)."""
    return np.array([sorted(range(s.shape[1]), key=lambda j: (-s[i, j], j))[:k] for i in range(s.shape[0])])


def brute_rank(s: np.ndarray, i: int, targets) -> tuple[int, int]:
    """(#keys strictly above the best true key, #other keys equal to it) for query i, by loops."""
    best = max(s[i, t] for t in targets)
    above = sum(1 for j in range(s.shape[1]) if s[i, j] > best and j not in targets)
    equal = sum(1 for j in range(s.shape[1]) if s[i, j] == best and j not in targets)
    return above, equal


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------------------------------------ topk
@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("k", [1, 5, 101])
def test_topk_matches_brute_force(rng, chunk, k):
    q, keys = unit(rng, 37, 16), unit(rng, 101, 16)
    s = q.astype(np.float64) @ keys.T.astype(np.float64)
    scores, idx = topk(q, keys, k, chunk_size=chunk)
    assert scores.dtype == np.float32 and idx.dtype == np.int64 and idx.shape == (37, k)
    np.testing.assert_array_equal(idx, brute_topk(s, k))
    np.testing.assert_allclose(scores, np.take_along_axis(s, idx, 1), atol=1e-5)


def test_topk_separate_key_chunks_and_float16(rng):
    q, keys = unit(rng, 50, 32).astype(np.float16), unit(rng, 333, 32).astype(np.float16)
    s = q.astype(np.float64) @ keys.T.astype(np.float64)
    _, idx = topk(q, keys, 9, chunk_size=13, key_chunk_size=40)
    np.testing.assert_array_equal(idx, brute_topk(s, 9))


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("k", [1, 3, 17])
def test_topk_ties_go_to_lower_key_index(rng, chunk, k):
    # small integer vectors: exact arithmetic and many equal scores, also straddling chunk borders
    q = rng.integers(-2, 3, (40, 4)).astype(np.float32)
    keys = rng.integers(-2, 3, (150, 4)).astype(np.float32)
    s = q @ keys.T
    scores, idx = topk(q, keys, k, chunk_size=chunk)
    np.testing.assert_array_equal(idx, brute_topk(s, k))
    np.testing.assert_array_equal(scores, np.take_along_axis(s, idx, 1))


def test_topk_all_equal_scores_keeps_first_keys():
    q = np.ones((3, 2), np.float32)
    keys = np.ones((20, 2), np.float32)
    _, idx = topk(q, keys, 4, chunk_size=3)
    np.testing.assert_array_equal(idx, np.tile(np.arange(4), (3, 1)))


def test_topk_normalize_and_k_above_n(rng):
    q, keys = rng.standard_normal((5, 8)) * 7, rng.standard_normal((6, 8)) * 3
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    kn = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    scores, idx = topk(q, keys, 50, chunk_size=4, normalize=True)
    assert idx.shape == (5, 6)
    np.testing.assert_array_equal(idx, brute_topk(qn @ kn.T, 6))
    assert np.all(scores <= 1.0 + 1e-6)


def test_topk_rejects_bad_input(rng):
    q, keys = unit(rng, 4, 8), unit(rng, 10, 8)
    with pytest.raises(ValueError, match="width"):
        topk(q, keys[:, :4], 2, 16)
    with pytest.raises(ValueError, match="k must be"):
        topk(q, keys, 0, 16)
    keys[6, 3] = np.nan
    with pytest.raises(ValueError, match="keys row 6"):
        topk(q, keys, 2, chunk_size=4)


def test_topk_agrees_with_faiss_flat(rng):
    """FAISS IndexFlatIP is the speed anchor of benchmarks/bench_search.py: same top-k sets on the same data."""
    faiss = pytest.importorskip("faiss")
    q, keys = unit(rng, 300, 64), unit(rng, 5000, 64)
    index = faiss.IndexFlatIP(64)
    index.add(keys)
    f_scores, f_idx = index.search(q, 10)
    scores, idx = topk(q, keys, 10, chunk_size=128, key_chunk_size=1000)
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.sort(f_idx, axis=1))
    np.testing.assert_allclose(scores, f_scores, atol=1e-5)


_MEMORY_CHILD = textwrap.dedent(
    """
    import numpy as np
    from skytext.eval.search import topk, ranks_of_targets

    def hwm_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    n = 20000
    rng = np.random.default_rng(0)
    q = rng.standard_normal((n, 4)).astype(np.float32)
    keys = rng.standard_normal((n, 4)).astype(np.float32)
    topk(q[:100], keys[:100], 5, 8192, "cpu")
    ranks_of_targets(q[:100], keys[:100], np.arange(100), 8192, "cpu")
    before = hwm_mb()
    topk(q, keys, 5, chunk_size=2048, device="cpu")
    ranks_of_targets(q, keys, np.arange(n), chunk_size=2048, device="cpu")
    print(hwm_mb() - before)
    """
)


def test_peak_memory_does_not_scale_with_score_matrix():
    # 20,000 x 20,000 float32 scores would be 1.6 GB; 2048 x 2048 blocks need ~16 MB each.
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD], env=env, capture_output=True, text=True, check=True)
    grew_mb = float(out.stdout.strip().splitlines()[-1])
    assert grew_mb < 400, f"peak RSS grew by {grew_mb:.0f} MB"


# ------------------------------------------------------------------------------------------------ ranks
@pytest.mark.parametrize("chunk", CHUNKS)
def test_ranks_match_brute_force(rng, chunk):
    q, keys = unit(rng, 30, 16), unit(rng, 90, 16)
    t = rng.integers(0, 90, 30)
    s = q.astype(np.float64) @ keys.T.astype(np.float64)
    want = 1 + (s > s[np.arange(30), t][:, None]).sum(axis=1)
    got = ranks_of_targets(q, keys, t, chunk_size=chunk)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_rank_agrees_with_topk_position(rng):
    q, keys = unit(rng, 25, 8), unit(rng, 70, 8)
    _, idx = topk(q, keys, 70, chunk_size=9)
    t = rng.integers(0, 70, 25)
    pos = 1 + np.argmax(idx == t[:, None], axis=1)
    np.testing.assert_array_equal(ranks_of_targets(q, keys, t, chunk_size=11), pos)


@pytest.mark.parametrize("ties", ["optimistic", "pessimistic", "mean"])
@pytest.mark.parametrize("chunk", [3, 50, 1000])
def test_ranks_with_ties(rng, ties, chunk):
    q = rng.integers(-2, 3, (30, 3)).astype(np.float32)
    keys = rng.integers(-2, 3, (120, 3)).astype(np.float32)
    t = rng.integers(0, 120, 30)
    s = q @ keys.T
    counts = [brute_rank(s, i, {int(t[i])}) for i in range(30)]
    want = {
        "optimistic": [1 + a for a, e in counts],
        "pessimistic": [1 + a + e for a, e in counts],
        "mean": [1 + a + e / 2 for a, e in counts],
    }[ties]
    np.testing.assert_array_equal(ranks_of_targets(q, keys, t, chunk_size=chunk, ties=ties), want)


def test_ranks_with_exact_duplicate_keys_tie(rng):
    keys = unit(rng, 200, 64)
    keys[100:150] = keys[:50]  # bit-identical copies of the targets
    q = unit(rng, 40, 64)
    t = rng.integers(0, 50, 40)
    s = q.astype(np.float64) @ keys.T.astype(np.float64)
    above = (s > s[np.arange(40), t][:, None]).sum(axis=1)
    np.testing.assert_array_equal(ranks_of_targets(q, keys, t, chunk_size=16), 1 + above)
    np.testing.assert_array_equal(ranks_of_targets(q, keys, t, chunk_size=16, ties="pessimistic"), 2 + above)


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_topk_float64_orders_exact_duplicates_by_index(rng, chunk):
    keys = unit(rng, 200, 64)
    keys[150:200] = keys[:50]  # copies in other (and smaller) key chunks
    q = unit(rng, 30, 64)
    _, idx = topk(q, keys, 200, chunk_size=chunk, matmul_dtype="float64")
    for r in range(30):
        pos = {int(j): p for p, j in enumerate(idx[r])}
        assert all(pos[j] + 1 == pos[j + 150] for j in range(50))  # each copy right after its original


@pytest.mark.parametrize("chunk", [2, 13, 1000])
def test_ranks_of_any_target_is_best_true_key(rng, chunk):
    q = rng.integers(-2, 3, (25, 4)).astype(np.float32)
    keys = rng.integers(-2, 3, (80, 4)).astype(np.float32)
    sets = [rng.choice(80, size=rng.integers(1, 6), replace=False) for _ in range(25)]
    s = q @ keys.T
    got = ranks_of_any_target(q, keys, sets, chunk_size=chunk)
    single = np.array([[ranks_of_targets(q[i : i + 1], keys, [j], 64)[0] for j in st] for i, st in enumerate(sets)], dtype=object)
    for i, st in enumerate(sets):
        a, _ = brute_rank(s, i, {int(x) for x in st})
        assert got[i] == 1 + a
        assert got[i] <= min(single[i])  # never worse than any single true key


def test_ranks_reject_bad_targets(rng):
    q, keys = unit(rng, 3, 4), unit(rng, 10, 4)
    with pytest.raises(ValueError, match="outside 0..9"):
        ranks_of_targets(q, keys, [0, 10, 2], 16)
    with pytest.raises(ValueError, match="3 queries"):
        ranks_of_targets(q, keys, [0, 1], 16)
    with pytest.raises(ValueError, match="query 1 has no true key"):
        ranks_of_any_target(q, keys, [[0], [], [1]], 16)
    with pytest.raises(ValueError, match="ties"):
        ranks_of_targets(q, keys, [0, 1, 2], 16, ties="random")


# ------------------------------------------------------------------------------------------------ CLI
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}
QUERY = "gravitational lens arcs"


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    """An index folder whose row 7 is exactly the tiny model's embedding of QUERY."""
    import open_clip
    import torch

    root = tmp_path_factory.mktemp("index")
    cfg = root / "skytext-tiny-test.json"
    cfg.write_text(json.dumps(TINY))
    open_clip.add_model_config(cfg)
    torch.manual_seed(0)
    model = open_clip.create_model("skytext-tiny-test").eval()
    torch.save(model.state_dict(), root / "tiny.pt")
    with torch.no_grad():
        text = model.encode_text(open_clip.get_tokenizer("skytext-tiny-test")([QUERY]))[0].numpy()
    rng = np.random.default_rng(1)
    emb = unit(rng, 20, 32)
    emb[7] = text / np.linalg.norm(text)
    np.save(root / "images.npy", emb.astype(np.float16))
    pd.DataFrame({
        "obs_id": [f"obs{i}" for i in range(20)],
        "proposal_id": [f"p{i // 4}" for i in range(20)],
        "path": [f"images/obs{i}.png" for i in range(20)],
    }).to_parquet(root / "images.parquet")  # fmt: skip
    # the model.json contract of skytext.align.models.ModelSpec: a config to register and open_clip weights
    spec = {"arch": "skytext-tiny-test", "config_file": str(cfg), "pretrained": str(root / "tiny.pt"), "mode": "full",
            "head_hidden": 0, "seed": 0}
    (root / "model.json").write_text(json.dumps(spec))
    return root, emb


def parse(out: str) -> pd.DataFrame:
    lines = [ln for ln in out.splitlines() if not ln.startswith("#")]
    rows = [ln.split("\t") for ln in lines[1:]]
    return pd.DataFrame(rows, columns=lines[0].split("\t"))


def test_cli_finds_the_planted_match(tiny_index, capsys):
    root, emb = tiny_index
    assert main([QUERY, "--k", "3", "--index", str(root), "--raw"]) == 0
    out = parse(capsys.readouterr().out)
    assert list(out.columns) == ["rank", "obs_id", "score", "path"]
    assert out["rank"].tolist() == ["1", "2", "3"]
    assert out.loc[0, "obs_id"] == "obs7" and out.loc[0, "path"] == "images/obs7.png"
    assert float(out.loc[0, "score"]) == pytest.approx(1.0, abs=2e-3)
    scores = out["score"].astype(float).to_numpy()
    assert np.all(np.diff(scores) <= 0)


def test_cli_as_module(tiny_index):
    root, _ = tiny_index
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    cmd = [sys.executable, "-m", "skytext.search", QUERY, "--k", "2", "--index", str(root), "--raw"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert parse(proc.stdout).loc[0, "obs_id"] == "obs7"


def test_cli_does_not_say_the_trained_model_is_random(tiny_index):
    """open_clip logs "Model initialized randomly" while building the architecture our weights then go into."""
    root, _ = tiny_index
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    proc = subprocess.run([sys.executable, "-m", "skytext.search", QUERY, "--index", str(root)], env=env,
                          capture_output=True, text=True, check=True)
    assert "initialized randomly" not in proc.stderr, proc.stderr
    assert parse(proc.stdout).shape[0] == 10


@pytest.fixture
def results_tree(tiny_index, tmp_path):
    """A results folder around the tiny index: dataset tables (titles, demo classes) and real image files."""
    from PIL import Image

    src, emb = tiny_index
    index = tmp_path / "res" / "embed" / "m" / "test"
    index.mkdir(parents=True)
    for name in ("images.npy", "model.json"):
        (index / name).write_bytes((src / name).read_bytes())
    meta = pd.read_parquet(src / "images.parquet")
    meta["path"] = [str(tmp_path / "res" / "images" / f"obs{i}.png") for i in range(len(meta))]
    meta.to_parquet(index / "images.parquet")
    (tmp_path / "res" / "images").mkdir()
    for i, p in enumerate(meta["path"]):
        Image.new("L", (40, 40), 10 * i).save(p)
    (tmp_path / "res" / "dataset").mkdir()
    pd.DataFrame({"proposal_id": [f"p{i}" for i in range(5)], "title": [f"Title {i}" for i in range(5)],
                  "split": ["train", "train", "train", "test", "test"]}).to_parquet(
        tmp_path / "res" / "dataset" / "proposals.parquet")
    (tmp_path / "res" / "captions").mkdir()  # the training captions queries are routed through
    pd.DataFrame({"proposal_id": [f"p{i}" for i in range(5)], "text": [f"{QUERY} seen in survey {i}" for i in range(5)]}
                 ).to_parquet(tmp_path / "res" / "captions" / "abstract.parquet")
    pd.DataFrame({"obs_id": meta["obs_id"], "gt_class": ["lens" if i == 7 else "spiral" for i in range(20)]}).to_parquet(
        tmp_path / "res" / "dataset" / "observations.parquet")
    return index


def test_cli_shows_title_class_and_verdict(results_tree, capsys):
    args = ["--k", "4", "--index", str(results_tree), "--n-anchors", "2"]
    assert main([QUERY, "banana bread recipe", *args, "--threshold", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "# match: match score" in out.split("# banana bread recipe")[0]  # shares its words with the captions
    assert "# no good match: match score 0.000 < threshold 0.500" in out  # shares none
    table = parse(out.split("# banana bread recipe")[0])
    assert list(table.columns) == ["rank", "obs_id", "score", "title", "class", "path"]
    assert set(table["title"]) <= {f"Title {i}" for i in range(5)}
    assert table["class"].isin(["lens", "spiral"]).all()
    assert main([QUERY, "--index", str(results_tree), "--raw"]) == 0
    raw = capsys.readouterr().out
    assert "no verdict" in raw and parse(raw).loc[0, "obs_id"] == "obs7" and parse(raw).loc[0, "title"] == "Title 1"
    # without --threshold: the one the search_eval rule chose, with its n_anchors, found beside the results
    assert main([QUERY, "--index", str(results_tree)]) == 2
    assert "pass n_anchors" in capsys.readouterr().err
    (results_tree.parents[2] / "eval" / "search").mkdir(parents=True)
    (results_tree.parents[2] / "eval" / "search" / "m.json").write_text(json.dumps({"match_threshold": 2.0, "n_anchors": 2}))
    assert main([QUERY, "--index", str(results_tree)]) == 0
    assert "# no good match: match score 0.775 < threshold 2.000" in capsys.readouterr().out  # 3 of 5 terms shared


def test_searcher_api_and_search_eval_rule(results_tree, tmp_path, capsys):
    """The Python API the web app uses, and the search_eval rule's function end to end on a tiny model:
    its JSON and CSV, and the line with both acceptance rates."""
    from skytext.search import Searcher, run_search_eval, search_index

    searcher = Searcher.open(results_tree, device="cpu", chunk_size=8, n_anchors=2, threshold=0.5)
    hits = searcher.search([QUERY, "banana bread recipe"], 3)
    assert [len(h) for h in hits] == [3, 3] and [h.attrs["match"] for h in hits] == [True, False]
    assert hits[0].attrs["match_score"] == pytest.approx(3 / 15**0.5) and hits[1].attrs["match_score"] == 0.0
    again = search_index(results_tree, [QUERY], 3, "cpu", chunk_size=5, n_anchors=2, threshold=0.5)
    pd.testing.assert_frame_equal(again[0], hits[0])
    res_root = results_tree.parents[2]
    cq, off = tmp_path / "cq.txt", tmp_path / "off.txt"
    cq.write_text(f"lens: {QUERY}\nspiral: survey spiral\n")
    off.write_text("banana bread recipe\nstock market crash\n")
    out = {"out_json": str(tmp_path / "s.json"), "out_table": str(tmp_path / "s.csv")}
    res = run_search_eval(str(results_tree / "model.json"), str(results_tree / "images.npy"), str(results_tree / "images.parquet"),
                          str(results_tree / "images.npy"), str(results_tree / "images.parquet"),
                          str(res_root / "dataset" / "observations.parquet"), str(res_root / "captions" / "abstract.parquet"),
                          str(res_root / "dataset" / "proposals.parquet"), str(cq), str(off),
                          str(ROOT / "resources/vocab/query_templates.txt"), str(ROOT / "resources/search/stop_words.txt"),
                          model="m", k=4, n_anchors=2, min_precision=0.5, device="cpu", chunk_size=7, threads=1, **out)
    printed = capsys.readouterr().out
    assert f"class queries accepted {res['class_accept_rate']:.3f}" in printed
    assert f"off-topic queries rejected {res['offtopic_reject_rate']:.3f}" in printed
    assert res["offtopic_reject_rate"] == 1.0 and res["n_class"] == 2 and res["n_offtopic"] == 2
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["model"] == "m" and saved["queries"][0]["hits"][0].startswith("obs")
    row = pd.read_csv(tmp_path / "s.csv")
    assert list(row.columns[:3]) == ["model", "p4_lens", "p4_spiral"] and row["offtopic_reject_rate"][0] == 1.0


def test_cli_html_inlines_thumbnails(results_tree, tmp_path, capsys):
    import base64
    import io
    import re

    from PIL import Image

    page = tmp_path / "out.html"
    assert main([QUERY, "--k", "3", "--index", str(results_tree), "--raw", "--html", str(page)]) == 0
    text = page.read_text()
    uris = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(uris) == 3 and "Title 1" in text and "lens" in text
    with Image.open(io.BytesIO(base64.b64decode(uris[0]))) as im:
        assert im.size == (40, 40) and im.convert("L").getpixel((0, 0)) == 70  # obs7 first


def test_cli_reports_mismatched_index(tiny_index, tmp_path, capsys):
    root, emb = tiny_index
    np.save(tmp_path / "images.npy", emb[:5].astype(np.float16))
    pd.read_parquet(root / "images.parquet").to_parquet(tmp_path / "images.parquet")
    code = main([QUERY, "--index", str(tmp_path), "--model-json", str(root / "model.json")])
    assert code == 2
    assert "images.parquet has 20 rows but images.npy has 5" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ vocab
def test_vocabularies():
    desc = read_lines(ROOT / "resources/vocab/descriptions.txt")
    assert 70 <= len(desc) <= 100
    for phrase in ["spiral galaxies", "elliptical galaxies", "globular clusters", "strong gravitational lensing arcs",
                   "emission nebulae", "planets in the solar system", "open star clusters", "star fields"]:  # fmt: skip
        assert phrase in desc
    queries = read_lines(ROOT / "resources/vocab/queries.txt")
    paperclip = ["globular cluster", "dwarf galaxy", "SN1987A", "strong lensing", "galaxy clusters",
                 "interstellar medium", "dark matter", "spiral galaxies", "Lyman alpha", "comets"]  # fmt: skip
    assert queries[:10] == paperclip and len(queries) > 10


def test_read_lines_skips_comments_and_rejects_repeats(tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("# header\n\n  a b  \n# c\nd\n")
    assert read_lines(f) == ["a b", "d"]
    f.write_text("x\ny\nX\n")
    with pytest.raises(ValueError, match="v.txt:3"):
        read_lines(f)


# ------------------------------------------------------------------------------------------------ served search
@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_topk_of_checked_keys_is_the_engines_topk_bit_for_bit(rng, chunk):
    """The web app's top-k of keys checked once gives the engine's scores and indices exactly: float32 and
    float16 keys, ties at the cut, key weights, key blocks that do not divide the keys."""
    from skytext.search import CheckedKeys

    q, keys = unit(rng, 5, 16), unit(rng, 301, 16)
    keys[40:60] = keys[3]  # exact duplicates: ties straddle the cut
    q[0] = keys[3]
    w = rng.uniform(0.5, 2.0, 301).astype(np.float32)
    for kk in (keys, keys.astype(np.float16)):
        checked = CheckedKeys(kk)
        for k in (1, 10, 25, 400):
            for weights in (None, w):
                want = topk(q, kk, k, chunk_size=chunk, key_weights=weights)
                got = topk(q, checked, k, chunk_size=chunk, key_weights=weights)
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])
    bad = keys.copy()
    bad[9, 2] = np.nan
    with pytest.raises(ValueError, match="keys row 9"):
        CheckedKeys(bad)
    with pytest.raises(ValueError, match="non-finite"):
        topk(np.full((1, 16), np.inf, np.float32), CheckedKeys(keys), 3, chunk_size=chunk)


def test_calibrated_search_of_checked_keys_is_the_engines(rng):
    """serve.textsearch.calibrated_search on checked keys == Calibration.search (z, indices, cosines)."""
    from skytext.eval.query import Calibration
    from skytext.serve.textsearch import calibrated_search, neighbours, search_matrix

    keys, bg, q = unit(rng, 500, 24), unit(rng, 30, 24), unit(rng, 3, 24)
    cal = Calibration.from_embeddings(bg)
    scales = cal.key_scales(keys, chunk_size=64, device="cpu")
    checked = search_matrix(keys)
    assert type(checked).__name__ == "CheckedKeys"
    want = cal.search(q, keys, 10, chunk_size=1 << 17, scales=scales, device="cpu")
    got = calibrated_search(cal, q, checked, 10, scales)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    ids = [f"k{i}" for i in range(500)]
    assert neighbours(checked, 4, 5, ids) == neighbours(keys, 4, 5, ids)


def test_searcher_encodes_templates_only_for_queries_that_match_no_anchor(results_tree, monkeypatch):
    """Searcher.encode skips the text tower for queries routed through anchors; its output is unchanged (to
    float rounding: the tower runs each batch up to its own longest text, so a query encoded alone is computed
    at another length than in a batch)."""
    import skytext.search as search_mod
    from skytext.eval.query import encode_queries

    searcher = search_mod.Searcher.open(results_tree, device="cpu", chunk_size=8, n_anchors=2, threshold=0.5)
    texts = [QUERY, "banana bread recipe", "arcs of a gravitational lens"]
    plain = encode_queries(searcher.model, searcher.tokenizer, texts, searcher.templates, "cpu")
    want = searcher.anchors.route(texts, plain, 2)  # the engine's routing with every query encoded
    seen = []
    monkeypatch.setattr(search_mod, "encode_queries", lambda m, t, qs, tm, d: seen.append(list(qs)) or
                        encode_queries(m, t, qs, tm, d))
    got = searcher.encode(texts)
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got[1], want[1])
    assert seen == [["banana bread recipe"]]
    searcher.check_keys()
    hits = searcher.search([QUERY], 3)[0]
    assert hits["obs_id"].iloc[0] == "obs7"
