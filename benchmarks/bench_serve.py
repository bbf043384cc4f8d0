"""Benchmark: skytext serve on synthetic 100,000-item indices for three studies (images, spectra, transients),
written in the contracts' formats into a temporary results folder.

The app runs as users run it: ``skytext serve`` in its own process (uvicorn, the torch threads it sets), asked
over HTTP on 127.0.0.1 by a keep-alive client in this process. Measured after a warm-up: a search across all
studies (text encoding by each study's text side, a new text every time, calibrated top-k, HTML) p50/p95; an
object page p95 per study (the page alone, and the page plus its picture: preview, spectrum plot, triplet; a
new object every time); the server's resident memory (now and peak). In this process, on the same three
matrices (float32 in RAM): a bare NumPy and FAISS exact top-10 of one query (the ratios), and the engine's
screened top-10 (:class:`skytext.eval.search.ScreenedKeys`, what the app searches 100,000-key indices with)
against its own exact scan: time, agreement and how many queries the screen certified; and one query's MiniLM
encoding, eager and traced (:class:`skytext.align.text_encoder.QueryEncoder`, what the app encodes with), alone
and beside a thread running Python.

    python benchmarks/bench_serve.py                        # 100,000 items per study
    python benchmarks/bench_serve.py --n 20000              # smaller
    python benchmarks/bench_serve.py --data /tmp/bench      # keep the synthetic results for the next run
The image model is the untrained skytext-tiny spec (its scores mean nothing; its cost is the real one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
QUERIES = ["strongly lensed arcs around a cluster", "absorbed hard X-ray source with an iron line",
           "a bogus detection caused by a saturated star", "spiral galaxy with a bar", "globular cluster",
           "supernova remnant", "cosmic ray hit", "an accreting white dwarf", "ultraluminous source",
           "planetary nebula shells", "dwarf galaxy", "hot pixel artefact"]


def unit(rng, n: int, d: int, dtype=np.float32) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def write_images(root: Path, n: int, rng) -> None:
    from skytext.align.models import ModelSpec, load_for_inference

    d = root / "images" / "bench"
    emb = d / "embed" / "full-abstract" / "test"
    for sub in ("dataset", "eval/search"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    emb.mkdir(parents=True)
    spec = ModelSpec(arch="skytext-tiny", config_file=str(ROOT / "resources/model_configs/skytext-tiny.json"),
                     pretrained=None, mode="full", head_hidden=512, seed=0, weights=None, caption="abstract")
    spec.to_json(emb / "model.json")
    model, tok, _ = load_for_inference(str(emb / "model.json"), device="cpu")
    dim = int(model.encode_text(tok(["x"])).shape[1])
    ids = [f"o{i:06d}" for i in range(n)]
    pids = [f"p{i // 3:06d}" for i in range(n)]
    np.save(emb / "images.npy", unit(rng, n, dim, np.float16))
    (d / "previews").mkdir()  # 500 distinct 96x96 previews, shared round-robin (the page reads one file by id)
    from PIL import Image

    for j in range(500):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(d / "previews" / f"{j}.png")
    paths = [f"results/images/bench/previews/{i % 500}.png" for i in range(n)]
    pd.DataFrame({"obs_id": ids, "proposal_id": pids, "path": paths}).to_parquet(emb / "images.parquet")
    classes = np.array(["spiral", "elliptical", "lens", "globular", "nebula"])[rng.integers(0, 5, n)]
    obs = pd.DataFrame({"obs_id": ids, "proposal_id": pids, "path": paths, "split": "test", "gt_class": classes,
                        "instrument": "WFC3", "filter": "F606W", "target": "T"})
    obs.to_parquet(d / "dataset" / "observations.parquet")
    up = sorted(set(pids))
    topics = ["spiral galaxies with bars", "giant elliptical galaxies", "globular star clusters", "lensing arcs",
              "planetary nebulae", "supernova remnants", "dwarf galaxies", "protoplanetary disks"]
    abstracts = [f"We propose to image {topics[i % len(topics)]} to measure their structure ({i})."
                 for i in range(len(up))]
    split = ["train" if i < 1000 else "test" for i in range(len(up))]  # 1000 training captions: the anchors
    pd.DataFrame({"proposal_id": up, "title": [f"Proposal {p}" for p in up], "abstract": abstracts,
                  "split": split}).to_parquet(d / "dataset" / "proposals.parquet")
    (d / "captions").mkdir()
    pd.DataFrame({"text_id": up, "proposal_id": up, "caption": "abstract", "text": abstracts}).to_parquet(
        d / "captions" / "abstract.parquet")
    (d / "eval" / "search" / "full-abstract.json").write_text(json.dumps({"n_anchors": 10, "match_threshold": 0.1}))


def write_spectra(root: Path, n: int, rng) -> None:
    d = root / "spectra" / "bench"
    for sub in ("dataset", "embed", "models/align"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"S{i:06d}" for i in range(n)]
    classes = np.array(["agn", "pulsar", "snr", "cv", "ulx"])[rng.integers(0, 5, n)]
    pd.DataFrame({"source_id": ids, "split": "test", "class": classes,
                  "powlaw_gamma": rng.normal(2, 0.3, n)}).to_parquet(d / "dataset" / "sources.parquet")
    np.save(d / "dataset" / "counts.npy", rng.poisson(5, (n, 64)).astype(np.float32))
    m = 5000  # texts the head stand-in is fitted on
    np.save(d / "embed" / "text.npy", unit(rng, m, 384))
    pd.DataFrame({"source_id": ids[:m], "split": "test", "paper_set": ids[:m]}).to_parquet(d / "embed" / "text.parquet")
    shared = unit(rng, n, 256)
    np.save(d / "embed" / "shared.npy", shared)
    pd.DataFrame({"source_id": ids, "split": "test"}).to_parquet(d / "embed" / "shared.parquet")
    np.savez(d / "models" / "align" / "ensemble.npz", spec=shared, text=unit(rng, m, 256))
    pd.DataFrame({"text_id": ["t0"], "title": ["A paper"], "abstract": ["Text."], "kind": "individual"}).to_parquet(
        d / "dataset" / "papers.parquet")
    pd.DataFrame({"text_id": ["t0"], "source_id": [ids[0]]}).to_parquet(d / "dataset" / "links.parquet")


def write_transients(root: Path, n: int, rng, cache: Path) -> None:
    from skytext.serve.pages.transients import TransientsPage, text_cache_path
    from skytext.serve.store import open_study

    d = root / "transients" / "bench"
    for sub in ("dataset", "llm/shards/0", "cnn", "acquire"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"t{i:06d}" for i in range(n)]
    np.save(d / "acquire" / "triplets.npy", rng.normal(size=(1000, 3, 48, 48)).astype(np.float32))
    sub = np.array(["supernova", "cosmic_ray", "saturated_star", "hot_pixel", "variable_star"])[rng.integers(0, 5, n)]
    pd.DataFrame({"obs_id": ids, "modality": "triplet", "path": str(d / "acquire" / "triplets.npy"),
                  "row": np.arange(n) % 1000, "label": np.where(sub == "supernova", "Real", "Bogus"), "subtype": sub,
                  "split": "test"}).to_parquet(d / "dataset" / "triplets.parquet")
    words = ["a compact point source", "a sharp hot pixel", "a bright saturated star with bleeding", "a dipole",
             "a faint transient on a galaxy"]
    pd.DataFrame({"obs_id": ids, "class": np.where(sub == "supernova", "Real", "Bogus"),
                  "explanation": [f"The difference image shows {words[i % 5]} (#{i})." for i in range(n)]}).to_parquet(
        d / "llm" / "shards" / "0" / "answers.parquet")
    np.save(d / "cnn" / "embeddings.npy", unit(rng, n, 16))
    pd.DataFrame({"obs_id": ids}).to_parquet(d / "cnn" / "embeddings.parquet")
    page = TransientsPage(open_study(root, "transients"), cache)  # the explanations' embeddings, precomputed
    docs = page.documents()
    path = text_cache_path(cache, docs["text"].tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, unit(rng, n, 384))
    docs[["obs_id"]].to_parquet(path.with_suffix(".parquet"))


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident memory (``VmHWM``: its peak) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def matrices(root: Path, cache: Path) -> list[np.ndarray]:
    """The three searched matrices, as float32 in RAM, read from the files the app reads."""
    from skytext.serve.pages.transients import TransientsPage, text_cache_path
    from skytext.serve.store import open_study

    docs = TransientsPage(open_study(root, "transients"), cache).documents()["text"].tolist()
    return [np.load(root / "images/bench/embed/full-abstract/test/images.npy").astype(np.float32),
            np.load(root / "spectra/bench/embed/shared.npy").astype(np.float32),
            np.load(text_cache_path(cache, docs)).astype(np.float32)]


def bare_topk(mats: list[np.ndarray], reps: int = 30) -> dict:
    """p50 of one query's exact top-10 over every matrix (NumPy; FAISS IndexFlatIP), and of the engine's
    screened top-10 with its agreement with the engine's exact scan."""
    import torch

    from skytext.eval.search import ScreenedKeys, topk

    rng = np.random.default_rng(1)
    qs = [[unit(rng, 1, m.shape[1]) for _ in range(reps)] for m in mats]

    def p50(fn) -> float:
        times = []
        for r in range(reps):
            t = time.perf_counter()
            for m, q in zip(mats, qs):
                fn(m, q[r])
            times.append(time.perf_counter() - t)
        return pct(times, 50)

    def numpy_topk(m, q):
        s = m @ q[0]
        top = np.argpartition(-s, 10)[:10]
        return top[np.argsort(-s[top])]

    out = {"numpy": p50(numpy_topk)}
    import faiss

    flat = {}
    for m in mats:
        flat[id(m)] = faiss.IndexFlatIP(m.shape[1])
        flat[id(m)].add(m)
    out["faiss"] = p50(lambda m, q: flat[id(m)].search(q, 10))
    torch.set_num_threads(1)  # as the app's threads
    screens = {id(m): ScreenedKeys(m) for m in mats}
    out["engine exact"] = p50(lambda m, q: topk(q, m, 10, 1 << 17, "cpu", keys_checked=True))
    out["engine screened"] = p50(lambda m, q: screens[id(m)].topk(q, 10, 1 << 17))
    same = sum(np.array_equal(screens[id(m)].topk(q, 10, 1 << 17)[1], topk(q, m, 10, 1 << 17, "cpu")[1])
               for m, qq in zip(mats, qs) for q in qq)
    counts = {k: sum(getattr(s, k) for s in screens.values()) for k in ("screened", "first_screen", "fallbacks")}
    return {"p50": out, "same": same, "n": len(mats) * reps, **counts}


def query_encoders(reps: int = 30) -> dict:
    """p50 ms of one query's MiniLM encoding, eager (``encode_one``) and traced (``QueryEncoder``, the app's),
    alone and beside a thread that runs short bursts of Python (as the app's other searches do)."""
    import threading

    import torch

    from skytext.align import text_encoder
    from skytext.core.config import defaults
    from skytext.serve import textsearch

    torch.set_num_threads(1)
    model = text_encoder.load(defaults("spectra.text_encoder")["model"], device="cpu")
    traced = text_encoder.QueryEncoder(model, textsearch.QUERY_TOLERANCE)
    ways = {"eager": lambda t: text_encoder.encode_one(model, t), "traced": traced}
    out, stop = {}, threading.Event()

    def busy():
        a = np.ones(100_000, np.float32)
        while not stop.is_set():
            s = 0
            for i in range(2000):  # about 100 us of Python holding the GIL ...
                s += i
            a.sum()  # ... then a NumPy reduction, as the app's other searches alternate them

    for beside in (False, True):
        th = threading.Thread(target=busy) if beside else None
        if th:
            th.start()
        for name, fn in ways.items():
            times = []
            for i in range(reps):
                t = time.perf_counter()
                fn(f"{QUERIES[i % len(QUERIES)]} {i}")
                times.append(time.perf_counter() - t)
            out[(name, beside)] = pct(times, 50)
        if th:
            stop.set()
            th.join()
    out["traced_used"] = traced.traced is not None
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="items per study (default 100,000)")
    ap.add_argument("--reps", type=int, default=40, help="timed searches (default 40)")
    ap.add_argument("--data", default=None, help="keep the synthetic results in this folder (written once, reused "
                    "by later runs with the same --n) instead of a temporary one")
    ap.add_argument("--write", default=None, help=argparse.SUPPRESS)  # (internal) write the data and exit
    args = ap.parse_args()
    if args.write:  # in a child process: the writer's memory and threads are not the benchmark's
        import torch

        torch.set_num_threads(2)
        rng = np.random.default_rng(0)
        write_images(Path(args.write) / "results", args.n, rng)
        write_spectra(Path(args.write) / "results", args.n, rng)
        write_transients(Path(args.write) / "results", args.n, rng, Path(args.write) / "cache")
        return
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.data or tmp
        root, cache = Path(tmp) / "results", Path(tmp) / "cache"
        t = time.perf_counter()
        written = Path(tmp) / "written"
        if not (args.data and written.is_file() and written.read_text().strip() == str(args.n)):
            for old in (root, cache):
                shutil.rmtree(old, ignore_errors=True)
            subprocess.run([sys.executable, __file__, "--n", str(args.n), "--write", tmp], check=True)
            written.write_text(str(args.n))
        print(f"synthetic indices: {args.n:,} items x 3 studies written in {time.perf_counter() - t:.0f} s")
        port = free_port()
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from skytext.serve.cli import main; "
                "sys.exit(main(sys.argv[2:]))")
        t = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-c", code, str(ROOT / "workflow" / "scripts"), "serve",
                                   "--results", str(root), "--cache", str(cache), "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
            while True:
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    if server.poll() is not None:
                        raise SystemExit(f"skytext serve exited: {server.stderr.read()[-2000:]}") from None
                    time.sleep(0.05)
            t_start = time.perf_counter() - t
            client.get("/search", params={"q": "x"})  # waits for the search side, loading in the background
            t_warm = time.perf_counter() - t
            for q in QUERIES[:4]:  # warm-up
                client.get("/search", params={"q": q})
            times = []
            for i in range(args.reps):
                q = f"{QUERIES[i % len(QUERIES)]} {i}"  # a new text every time: no encoder cache hit
                t = time.perf_counter()
                r = client.get("/search", params={"q": q})
                times.append(time.perf_counter() - t)
                assert r.status_code == 200 and len(re.findall(r'class="hit"', r.text)) == 30, r.text[:500]
            obj, obj_media = {}, {}  # study -> seconds (a new object each time: no picture cache hit)
            for i in range(args.reps):
                for study, oid in (("images", f"o{i * 997:06d}"), ("spectra", f"S{i * 997:06d}"),
                                   ("transients", f"t{i * 997:06d}")):
                    t = time.perf_counter()
                    assert client.get(f"/object/{study}/{oid}").status_code == 200
                    obj.setdefault(study, []).append(time.perf_counter() - t)
                    kind = {"images": "image", "spectra": "spectrum", "transients": "triplet"}[study]
                    t = time.perf_counter()
                    assert client.get(f"/media/{study}/{kind}/{oid}").status_code == 200
                    obj_media.setdefault(study, []).append(obj[study][-1] + time.perf_counter() - t)
            rss, peak = rss_mb(server.pid), rss_mb(server.pid, "VmHWM")
            load = os.getloadavg()[0]
        finally:
            server.terminate()
            server.wait(30)
        bare = bare_topk(matrices(root, cache))
    enc = query_encoders()
    p50, p95 = pct(times, 50), pct(times, 95)
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f} after the HTTP part; the server: skytext serve "
          "(uvicorn, one torch thread), asked over HTTP from this process")
    print(f"app start (first page served): {t_start:.1f} s; search side loaded: {t_warm:.1f} s")
    print(f"search across 3 studies x {args.n:,} items (text encoding included, 10 hits each, HTML, HTTP): "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms   (targets 30 / 80)")
    every = lambda d: [x for v in d.values() for x in v]  # noqa: E731
    print(f"object page p95: {pct(every(obj), 95):.1f} ms (text); with its picture: {pct(every(obj_media), 95):.1f} ms"
          "  (target 150)")
    for study in obj:
        print(f"  {study}: page p95 {pct(obj[study], 95):.1f} ms, with its picture {pct(obj_media[study], 95):.1f} ms")
    print(f"server RSS after the run: {rss:.0f} MB, peak {peak:.0f} MB  (target <= 2048)")
    for name in ("numpy", "faiss"):
        v = bare["p50"][name]
        print(f"bare {name} exact top-10 of one query over the same 3 matrices: p50 {v:.2f} ms; search / bare = {p50 / v:.1f}x")
    print(f"query encoding (MiniLM, one query, one torch thread), p50: eager {enc[('eager', False)]:.1f} ms, traced "
          f"{enc[('traced', False)]:.1f} ms (the app's; used: {enc['traced_used']}); beside a thread running Python: "
          f"eager {enc[('eager', True)]:.1f} ms, traced {enc[('traced', True)]:.1f} ms")
    ex, sc = bare["p50"]["engine exact"], bare["p50"]["engine screened"]
    print(f"engine top-10 over the same 3 matrices, one torch thread: exact scan p50 {ex:.2f} ms, screened p50 {sc:.2f} ms "
          f"({ex / sc:.1f}x); screened = exact on {bare['same']} of {bare['n']} queries; of its "
          f"{bare['screened'] + bare['fallbacks']} searches, certified by the first screen {bare['first_screen']}, by a "
          f"later one {bare['screened'] - bare['first_screen']}, full-scan fallbacks {bare['fallbacks']}")


if __name__ == "__main__":
    main()
