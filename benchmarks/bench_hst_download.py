"""What one HST preview costs the download stage, measured without the network.

Synthetic full-size previews (a ``--source-px`` square of sky noise, stars and a few galaxies, JPEG like
MAST's ``Preview-Full`` files) are served by the MAST replay server on 127.0.0.1 and fetched by the real
shard code (:func:`skytext.sources.download.download_shard`: ``hst.download.workers`` threads, size and
decode checks, Lanczos resize to ``--size`` px, JPEG q95, atomic writes). Reported: bytes served and kept per preview, and seconds per preview
on this machine with no network in the way -- the floor under the per-file time of a real run, whose
network part (latency + bytes / bandwidth, spread over the workers) adds to it. Real previews differ from
these synthetic ones; after discovery, ``results/hst/acquire/plan.parquet`` lists each planned preview's
``size`` as MAST reports it.

    .venv/bin/python benchmarks/bench_hst_download.py [--n 24] [--source-px 4096] [--size 512]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow" / "scripts"), str(REPO / "tests")]

from fakes.mast_replay import DATA, ReplayServer  # noqa: E402
from skytext.core.config import defaults  # noqa: E402
from skytext.sources.download import download_shard, settings_from_config  # noqa: E402


def sky(px: int, seed: int, noise: float) -> bytes:
    """A greyscale preview: sky background with noise, a few hundred stars, a few elliptical galaxies."""
    rng = np.random.default_rng(seed)
    img = rng.normal(20.0, noise, (px, px)).astype(np.float32)
    for x, y, f in zip(rng.integers(0, px, 400), rng.integers(0, px, 400), rng.uniform(40, 235, 400)):
        img[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3] += f
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32) - 128
    for x, y in zip(rng.integers(0, px - 256, 6), rng.integers(0, px - 256, 6)):
        img[y : y + 256, x : x + 256] += 150 * np.exp(-np.hypot(xx, 2 * yy) / rng.uniform(8, 30))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24, help="previews to fetch")
    ap.add_argument("--source-px", type=int, default=4096, help="side of the served (full-size) previews")
    ap.add_argument("--size", type=int, help="stored size (hst.image_size; default: the config's)")
    ap.add_argument("--workers", type=int, help="hst.download.workers (default: the config's)")
    args = ap.parse_args(argv)
    hst = defaults("images.hst")
    args.size = hst["image_size"] = args.size or hst["image_size"]
    args.workers = hst["download"]["workers"] = args.workers or hst["download"]["workers"]
    if args.n < 1 or args.source_px < 16:
        sys.exit("bench_hst_download: error: --n must be >= 1 and --source-px >= 16")

    with tempfile.TemporaryDirectory(prefix="skytext-dlbench-") as tmp:
        tmp = Path(tmp)
        data = tmp / "mast"
        (data / "files").mkdir(parents=True)
        for name in ("columnsconfig.json", "observations.json", "products.json"):
            shutil.copy(DATA / name, data / name)
        rows = []
        for i in range(args.n):
            body = sky(args.source_px, i, noise=(3.0, 6.0, 10.0)[i % 3])
            name = f"hst_99999_{i:03d}_acs_wfc_total_bench{i:03d}_drc.jpg"
            (data / "files" / name).write_bytes(body)
            rows.append({"obs_id": name[:-4], "proposal_id": "99999", "uri": f"mast:HST/product/{name}",
                         "filename": name, "size": len(body), "cycle": 1, "instrument": "", "filter": "", "target": ""})
        server = ReplayServer(data=data).start()
        try:
            settings = settings_from_config({**hst, "mast_url": server.url}, tmp / "images", tmp / "q")
            t0, c0 = time.perf_counter(), time.process_time()
            obs, rejects, _ = download_shard(pd.DataFrame(rows), settings)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            server.stop()
        if len(rejects):
            sys.exit(f"bench_hst_download: error: {len(rejects)} previews rejected, e.g. {rejects.iloc[0].to_dict()}")
        served = [r["size"] for r in rows]
        kept = [Path(p).stat().st_size for p in obs["path"]]
    print(json.dumps({
        "previews": args.n, "source_px": args.source_px, "stored_px": args.size, "workers": args.workers,
        "served_kb_median": round(statistics.median(served) / 1024, 1),
        "kept_kb_median": round(statistics.median(kept) / 1024, 1),
        "kept_kb_range": [round(min(kept) / 1024, 1), round(max(kept) / 1024, 1)],
        "wall_s_per_preview": round(wall / args.n, 3),
        "cpu_s_per_preview": round(cpu / args.n, 3),  # both processes: the test server's reads are cheap
    }, indent=1))


if __name__ == "__main__":
    main()
