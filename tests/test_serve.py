"""The web app's HTTP layer (skytext serve) with FastAPI's TestClient on small synthetic results folders:
partial and corrupt results, safety (traversal, escaping, query length, headers), search, maps, tables, CLI."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from skytext.serve import cli  # noqa: E402
from skytext.serve.app import create_app  # noqa: E402
from skytext.serve.pages import REGISTRY  # noqa: E402

XSS = "<script>alert('xss')</script> & <b>bold</b>"
CLASS_TEXT = {"pulsar": "a rotation-powered pulsar with pulsed hard X-ray emission",
              "agn": "an active galactic nucleus, an accreting supermassive black hole in a galaxy",
              "snr": "a supernova remnant, an expanding shell of shocked gas with thermal lines"}


def write_images(root: Path) -> None:
    """An images study without embeddings: two observations, one proposal whose abstract holds markup."""
    d = root / "images" / "demo"
    (d / "dataset").mkdir(parents=True)
    (d / "images").mkdir()
    for i in range(2):
        Image.new("RGB", (16, 16), (i * 100, 50, 50)).save(d / "images" / f"o{i}.png")
    pd.DataFrame({"obs_id": ["o0", "o1"], "proposal_id": ["p1", "p1"], "modality": "image",
                  "path": [f"results/images/demo/images/o{i}.png" for i in range(2)], "split": "test",
                  "gt_class": "spiral", "instrument": "WFPC2", "filter": "F814W", "target": "T"}).to_parquet(
        d / "dataset" / "observations.parquet")
    pd.DataFrame({"proposal_id": ["p1"], "title": ["A <i>title</i>"], "abstract": [XSS], "split": ["test"],
                  "gt_class": ["spiral"]}).to_parquet(d / "dataset" / "proposals.parquet")


def write_spectra(root: Path, corrupt: bool = False) -> None:
    """A spectra study whose shared space is its texts' MiniLM embeddings seen through a fixed linear head."""
    from skytext.serve.textsearch import minilm_encoder
    from skytext.core.config import defaults

    d = root / "spectra" / "demo"
    for sub in ("dataset", "embed", "models/align"):
        (d / sub).mkdir(parents=True)
    classes = [c for c in CLASS_TEXT for _ in range(6)]
    ids = [f"S{i:03d}" for i in range(len(classes))]
    pd.DataFrame({"source_id": ids, "split": "test", "class": classes,
                  "powlaw_gamma": np.linspace(1, 3, len(ids))}).to_parquet(d / "dataset" / "sources.parquet")
    rng = np.random.default_rng(0)
    np.save(d / "dataset" / "counts.npy", rng.poisson(20, (len(ids), 64)).astype(np.float32))
    pd.DataFrame({"text_id": [f"P{i}" for i in range(len(ids))], "title": [f"Paper {i}" for i in range(len(ids))],
                  "abstract": [CLASS_TEXT[c] for c in classes], "kind": "individual"}).to_parquet(
        d / "dataset" / "papers.parquet")
    pd.DataFrame({"text_id": [f"P{i}" for i in range(len(ids))], "source_id": ids}).to_parquet(
        d / "dataset" / "links.parquet")
    encode = minilm_encoder(defaults("spectra.text_encoder")["model"])
    text = encode([CLASS_TEXT[c] + f" {i}" for i, c in enumerate(classes)])
    np.save(d / "embed" / "text.npy", text)
    pd.DataFrame({"source_id": ids, "split": "test", "paper_set": [f"P{i}" for i in range(len(ids))]}).to_parquet(
        d / "embed" / "text.parquet")
    head = rng.normal(size=(text.shape[1], 24)).astype(np.float32)
    shared = text @ head
    shared /= np.linalg.norm(shared, axis=1, keepdims=True)
    np.savez(d / "models" / "align" / "ensemble.npz", spec=shared, text=shared)
    (d / "eval").mkdir()
    pd.DataFrame({"source_id": ids[:3], "split": "test", "has_papers": True, "powlaw_gamma_true": [1.0, 1.1, 1.2],
                  "powlaw_gamma_pred": [1.25, 1.5, 1.75]}).to_parquet(d / "eval" / "regression_predictions.parquet")
    if corrupt:
        (d / "embed" / "shared.npy").write_bytes(b"\x93NUMPY garbage")
    else:
        np.save(d / "embed" / "shared.npy", shared)
    pd.DataFrame({"source_id": ids, "split": "test"}).to_parquet(d / "embed" / "shared.parquet")


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    write_images(root)
    return root


def client(results: Path, tmp_path: Path) -> TestClient:
    return TestClient(create_app(results, tmp_path / "cache", warm=False))


def test_empty_results_folder_shows_every_study_as_not_run(tmp_path):
    (tmp_path / "results").mkdir()
    c = client(tmp_path / "results", tmp_path)
    page = c.get("/")
    assert page.status_code == 200
    assert page.text.count("not run") == len(REGISTRY)
    assert c.get("/search", params={"q": "spiral galaxy"}).status_code == 200
    assert c.get("/maps").status_code == 200 and c.get("/tables").status_code == 200


@pytest.mark.parametrize("url", [
    "/object/images/..%2F..%2Fetc%2Fpasswd", "/object/images/../../etc/passwd", "/object/images/%2e%2e",
    "/media/images/image/..%2F..%2F..%2Fetc%2Fpasswd", "/media/images/image/%2Fetc%2Fpasswd",
    "/media/images/..%2F..%2Fetc/o0", "/static/..%2F..%2Fapp.py", "/static/../app.py", "/object/../../etc/passwd",
    "/object/images/o9", "/object/nosuchstudy/o0", "/media/images/image/o0%00.png", "/map/images/..%2Fx",
])
def test_no_url_reaches_the_file_system(results, tmp_path, url):
    r = client(results, tmp_path).get(url)
    assert r.status_code == 404, url
    assert "root:" not in r.text


def test_files_are_served_by_id(results, tmp_path):
    r = client(results, tmp_path).get("/media/images/image/o0")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(__import__("io").BytesIO(r.content)).size == (16, 16)


def test_data_text_is_escaped(results, tmp_path):
    r = client(results, tmp_path).get("/object/images/o0")
    assert r.status_code == 200
    assert "<script>alert" not in r.text and "<i>title</i>" not in r.text
    assert "&lt;script&gt;alert(" in r.text and "&lt;i&gt;title&lt;/i&gt;" in r.text


def test_long_query_is_refused_with_a_message(results, tmp_path):
    c = client(results, tmp_path)
    r = c.get("/search", params={"q": "x" * 501})
    assert r.status_code == 400 and "query too long: 501 characters (at most 500)" in r.text
    assert c.get("/search", params={"q": "x" * 500}).status_code == 200


def test_security_headers_on_every_response(results, tmp_path):
    c = client(results, tmp_path)
    for url in ("/", "/object/images/o0", "/media/images/image/o0", "/nope", "/static/style.css"):
        csp = c.get(url).headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(
            "script-src")[1].split(";")[0], url


def test_plotly_is_served_from_the_installed_package(results, tmp_path):
    r = client(results, tmp_path).get("/vendor/plotly.min.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"] and len(r.content) > 1_000_000


def test_corrupt_embeddings_give_one_note_and_the_rest_works(results, tmp_path):
    write_spectra(results, corrupt=True)
    c = client(results, tmp_path)
    home = c.get("/").text
    assert "embeddings embed/shared.npy could not be read" in home
    assert c.get("/object/spectra/S000").status_code == 200
    r = c.get("/media/spectra/spectrum/S000")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    assert "search unavailable" in c.get("/search", params={"q": "pulsar"}).text
    assert c.get("/object/images/o0").status_code == 200


def test_spectra_search_goes_through_the_shared_space(results, tmp_path):
    write_spectra(results)
    c = client(results, tmp_path)
    page = c.get("/search", params={"q": "supernova remnant shell"}).text
    group = page.split('id="group-spectra"')[1].split("</section>")[0]
    classes = [s.split('"')[0] for s in group.split('data-class="')[1:]][:5]
    assert classes.count("snr") >= 4, classes
    obj = c.get("/object/spectra/S000").text
    assert "More like this" in obj and "/object/spectra/S00" in obj and "Nearest texts" in obj
    # the regression's prediction beside the catalogue value (eval/regression_predictions.parquet)
    row = obj.split("<td>powlaw_gamma</td>")[1].split("</tr>")[0]
    assert "1.25" in row and "not among the study's outputs" not in obj
    assert "not scored by the regression" in c.get("/object/spectra/S010").text


def test_map_data_from_computed_or_given_coordinates(results, tmp_path):
    write_spectra(results)
    ana = results / "analysis" / "demo" / "spectra-shared"
    ana.mkdir(parents=True)
    ids = pd.read_parquet(results / "spectra" / "demo" / "embed" / "shared.parquet")["source_id"]
    coords = pd.DataFrame({"id": ids, "umap_1": np.arange(len(ids), dtype=float), "umap_2": 0.0})
    coords.to_parquet(ana / "umap.parquet")
    c = client(results, tmp_path)
    d = c.get("/api/map/spectra/shared").json()
    assert d["source"] == "the analysis study's UMAP" and d["x"][:3] == [0.0, 1.0, 2.0]
    assert list(d["colours"])[0] == "class" and d["colours"]["powlaw_gamma"]["kind"] == "number"
    assert d["urls"][0] == "/object/spectra/S000"
    assert c.get("/map/spectra/shared").status_code == 200
    assert c.get("/map/analysis/spectra-shared").status_code == 200
    assert c.get("/api/map/analysis/spectra-shared").json()["urls"][0] == "/object/spectra/S000"


def test_tables_are_sortable_and_link_errors(results, tmp_path):
    d = results / "images" / "demo" / "eval"
    d.mkdir()
    table = pd.DataFrame({"model": ["full-abstract", "random"], "top10pct": [0.5, 0.1]})
    table.to_csv(d / "comparison.csv", index=False)
    page = client(results, tmp_path).get("/tables").text
    assert 'class="sortable"' in page and "full-abstract" in page and "0.5" in page


def test_cli_prints_the_url_and_warns_off_loopback(results, monkeypatch, capsys):
    ran = {}
    monkeypatch.setattr("uvicorn.run", lambda app, host, port, log_level: ran.update(host=host, port=port))
    monkeypatch.setattr("torch.set_num_threads", lambda n: ran.update(threads=n))
    monkeypatch.setattr(cli, "fixed_mmap_threshold", lambda: ran.update(mmap=True))
    assert cli.main(["serve", "--results", str(results), "--port", "8123"]) == 0
    out = capsys.readouterr()
    assert "http://127.0.0.1:8123/" in out.out and "warning" not in out.err and ran["host"] == "127.0.0.1"
    assert ran["threads"] == 1  # one torch thread per request (app.TORCH_THREADS)
    assert ran["mmap"]  # start-up temporaries go back to the system
    assert cli.main(["serve", "--results", str(results), "--host", "0.0.0.0"]) == 0
    assert "warning: binding 0.0.0.0" in capsys.readouterr().err
    assert cli.main(["serve", "--results", str(results / "nope")]) == 2


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_mmap_threshold_is_set_through_glibc():
    assert cli.fixed_mmap_threshold(1 << 20) is True


def test_pages_import_no_other_study():
    """Each study page imports the engine and its own study only; every page is registered in one place."""
    import ast

    from conftest import ROOT

    studies = set(REGISTRY)
    pages = ROOT / "workflow" / "scripts" / "skytext" / "serve" / "pages"
    for study in studies:
        tree = ast.parse((pages / f"{study}.py").read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        others = {m for m in mods if m.split(".")[:2] in [["skytext", s] for s in studies - {study}]}
        assert not others, f"{study} page imports {others}"
        assert any(f"pages.{study}:" in v for v in REGISTRY.values())


def _random_heads(rng, members: int, d_in: int, hidden: int, dim: int) -> dict[str, np.ndarray]:
    """Text-head arrays in ensemble.npz's format (text_head{k}_w0 [hidden, d_in], _b0, _w1 [dim, hidden], _b1)."""
    out = {}
    for k in range(members):
        out[f"text_head{k}_w0"] = rng.normal(size=(hidden, d_in)).astype(np.float32) / np.sqrt(d_in)
        out[f"text_head{k}_b0"] = rng.normal(size=hidden).astype(np.float32)
        out[f"text_head{k}_w1"] = rng.normal(size=(dim, hidden)).astype(np.float32) / np.sqrt(hidden)
        out[f"text_head{k}_b1"] = rng.normal(size=dim).astype(np.float32)
    return out


def test_trained_text_heads_match_a_torch_reference():
    """ensemble.npz's text heads, rebuilt as the study's heads (skytext.spectra.align.text_heads), equal torch's
    Linear -> GELU -> Linear -> normalize, concatenated over members and divided by sqrt(members)."""
    import torch

    from skytext.serve.pages.spectra import trained_heads
    from skytext.spectra.align import text_heads, tower

    rng = np.random.default_rng(3)
    members, d_in, hidden, dim = 3, 12, 20, 7
    arrays = _random_heads(rng, members, d_in, hidden, dim)
    x = rng.normal(size=(9, d_in)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    outs = []
    with torch.no_grad():
        for k in range(members):
            first, last = torch.nn.Linear(d_in, hidden), torch.nn.Linear(hidden, dim)
            first.weight.copy_(torch.from_numpy(arrays[f"text_head{k}_w0"]))
            first.bias.copy_(torch.from_numpy(arrays[f"text_head{k}_b0"]))
            last.weight.copy_(torch.from_numpy(arrays[f"text_head{k}_w1"]))
            last.bias.copy_(torch.from_numpy(arrays[f"text_head{k}_b1"]))
            net = torch.nn.Sequential(first, torch.nn.GELU(), torch.nn.Dropout(0.1), last).eval()
            outs.append(torch.nn.functional.normalize(net(torch.from_numpy(x)), dim=1))
    ref = (torch.cat(outs, dim=1) / np.sqrt(members)).numpy()
    heads = trained_heads(arrays)
    assert len(heads) == members
    got = tower(text_heads(heads), x)
    assert got.shape == (9, members * dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    assert trained_heads({"spec": np.zeros((2, 2))}) is None
    broken = dict(arrays)
    del broken["text_head1_b1"]
    with pytest.raises(ValueError, match="text head 1 lacks b1"):
        trained_heads(broken)


def test_search_over_screened_indices_gives_the_same_hits(results, tmp_path, monkeypatch):
    """With every index screened (as 20,000-key indices are) the app answers with the same hits in the same
    order and the same scores; the screen certified some of them itself."""
    import re

    import skytext.serve.textsearch as ts

    write_spectra(results)
    queries = ["supernova remnant shell", "accreting pulsar", "spiral galaxy", "a bright quasar jet"]
    page = lambda c, q: c.get("/search", params={"q": q}).text.split('id="group-spectra"')[1]  # noqa: E731
    plain = client(results, tmp_path)
    want = [page(plain, q) for q in queries]
    monkeypatch.setattr(ts, "SCREEN_MIN_KEYS", 1)
    monkeypatch.setattr(ts, "SCREEN_CANDIDATES", 2)
    screened = client(results, tmp_path)
    got = [page(screened, q) for q in queries]
    for a, b in zip(got, want):
        assert re.findall(r'href="(/object/spectra/[^"]+)"', a) == re.findall(r'href="(/object/spectra/[^"]+)"', b)
        scores = re.findall(r'class="score"[^>]*>([^<]+)<', b)
        assert re.findall(r'class="score"[^>]*>([^<]+)<', a) == scores and len(scores) == 10
    keys = screened.app.state.site.pages["spectra"].index.keys
    assert type(keys).__name__ == "ScreenedKeys" and keys.screened > 0


def test_spectra_search_uses_the_saved_text_heads_when_present(results, tmp_path):
    """With text_head* arrays in ensemble.npz the query goes through them exactly (and the group says so);
    without them, through the ridge stand-in (and the group says that)."""
    from skytext.core.config import defaults
    from skytext.serve.pages.spectra import trained_heads
    from skytext.serve.textsearch import minilm_encoder
    from skytext.spectra.align import text_heads, tower

    write_spectra(results)
    c = client(results, tmp_path)
    group = c.get("/search", params={"q": "supernova remnant shell"}).text.split('id="group-spectra"')[1]
    assert "ridge stand-in" in group.split("</section>")[0]
    npz = results / "spectra" / "demo" / "models" / "align" / "ensemble.npz"
    old = dict(np.load(npz))
    arrays = _random_heads(np.random.default_rng(5), 2, 384, 32, 12)  # 2 members x 12 = the 24-wide shared space
    np.savez(npz, **old, **arrays)
    app = create_app(results, tmp_path / "cache2", warm=False)
    c = TestClient(app)
    group = c.get("/search", params={"q": "supernova remnant shell"}).text.split('id="group-spectra"')[1]
    assert "trained text heads" in group.split("</section>")[0] and "stand-in" not in group.split("</section>")[0]
    page = app.state.site.pages["spectra"]
    assert page.head_kind == "trained"
    q = ["a pulsar with pulsed emission"]
    want = tower(text_heads(trained_heads(arrays)), minilm_encoder(defaults("spectra.text_encoder")["model"])(q))
    np.testing.assert_array_equal(page.index.encode(q), want)


def test_row_lookup_gives_what_iloc_gives(tmp_path):
    """Rows.get reads a row column by column: the same values, of the same types, as df.iloc (cleaned)."""
    from skytext.serve.pages.base import Rows, _clean

    df = pd.DataFrame({"id": ["a", "b", "c"], "s": ["x", None, "z"], "f": [1.5, np.nan, 3.0], "i": [1, 2, 3],
                       "f32": np.array([1, 2, 3], np.float32), "b": [True, False, True], "l": [[1, 2], [3], []],
                       "ni": pd.array([1, None, 3], dtype="Int64"), "cat": pd.Categorical(["u", "v", "u"])})
    df.to_parquet(tmp_path / "t.parquet")
    for table in (df, pd.read_parquet(tmp_path / "t.parquet")):
        rows = Rows(table, "id")
        for i, oid in enumerate(table["id"]):
            want = {c: _clean(v) for c, v in table.iloc[i].items()}
            got = rows.get(oid)
            assert list(got) == list(want)
            for c in want:
                assert type(got[c]) is type(want[c]), (c, type(got[c]), type(want[c]))
                assert np.array_equal(got[c], want[c]) if isinstance(want[c], np.ndarray) else got[c] == want[c]
    assert Rows(df, "id").get("nope") is None and Rows(None, "id").get("a") is None


def test_head_requests_answer_like_get_without_a_body(results, tmp_path):
    c = client(results, tmp_path)
    for url in ("/", "/object/images/o0", "/media/images/image/o0", "/search?q=spiral", "/static/style.css"):
        get, head = c.get(url), c.head(url)
        assert head.status_code == get.status_code == 200, url
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], url
        assert "default-src 'self'" in head.headers.get("content-security-policy", ""), url
    assert c.head("/object/images/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert c.head("/nope").status_code == 404


def test_security_middleware_answers_head_without_the_body():
    """Driven as ASGI: a HEAD reaches the route as GET, its body is dropped (the headers, Content-Length
    included, stay), the security headers are added without replacing one the route set; GET keeps its body."""
    import asyncio

    from skytext.serve import safety
    from skytext.serve.app import SecurityHeaders

    seen = {}

    async def route(scope, receive, send):
        seen["method"] = scope["method"]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5"), (b"x-frame-options", b"SAMEORIGIN")]})
        await send({"type": "http.response.body", "body": b"hello"})

    def call(method):
        sent = []

        async def send(message):
            sent.append(message)

        asyncio.run(SecurityHeaders(route)({"type": "http", "method": method, "path": "/object/x/y", "headers": []},
                                           None, send))
        return sent

    start, body = call("HEAD")
    assert seen["method"] == "GET" and body["body"] == b""
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    assert headers["content-length"] == "5" and headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["content-security-policy"] == safety.HEADERS["Content-Security-Policy"]
    assert call("GET")[1]["body"] == b"hello"


def test_media_cache_returns_what_the_page_renders(results, tmp_path):
    """The picture LRU gives the bytes the page renders uncached, renders each picture once, and keeps no
    answer for an unknown id."""
    from skytext.serve.pages import base

    write_spectra(results)
    app = create_app(results, tmp_path / "cache", warm=False)
    c = TestClient(app)
    page = app.state.site.pages["spectra"]
    calls = []
    media = page.media
    page.media = lambda kind, oid: calls.append(oid) or media(kind, oid)
    first = c.get("/media/spectra/spectrum/S001")
    again = c.get("/media/spectra/spectrum/S001")
    assert first.status_code == again.status_code == 200 and calls == ["S001"]
    assert first.content == again.content == media("spectrum", "S001")
    assert c.get("/media/spectra/spectrum/S999").status_code == 404 and ("spectrum", "S999") not in page._media
    for i in range(base.MEDIA_CACHE + 3):
        page._media[("x", str(i))] = b""
    page.media_cached("spectrum", "S002")
    assert len(page._media) == base.MEDIA_CACHE and ("spectrum", "S002") in page._media
    from skytext.serve.pages.spectra import _energies

    np.testing.assert_array_equal(_energies(64), _energies.__wrapped__(64))  # the channel energies, read once


def test_transients_prompt_defaults_are_read_once_and_unchanged(tmp_path):
    from skytext.core.config import defaults
    from skytext.serve.pages.transients import TransientsPage
    from skytext.serve.store import open_study

    page = TransientsPage(open_study(tmp_path, "transients"), tmp_path / "cache")
    assert page._prompt() == defaults("transients.prompt") and page._prompt() is page._prompt()
