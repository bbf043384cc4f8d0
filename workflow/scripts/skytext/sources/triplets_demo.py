"""Image triplets (New, Reference, Difference) for the transients study: the shard contract, its checks, and
the seeded demo source.

**The triplet contract.** An acquisition shard is two files: ``triplets.npy`` -- float32 ``[n, 3, S, S]``,
channels New, Reference, Difference, the candidate at the centre -- and ``triplets.parquet``, row-aligned:
``obs_id`` (the triplet id), ``modality`` (``triplet``), ``path`` (the ``.npy``), ``row``, ``label``
(``Real``/``Bogus``), ``subtype`` (ground truth of the demo; ``''`` when unknown), ``gt_attrs`` (JSON). A
source (this demo, :mod:`skytext.sources.meerlicht`) writes exactly that; :func:`triplet_problem` says why a
triplet cannot be used (NaNs, an all-zero or constant cutout, a wrong shape, a label outside Real/Bogus), so
the dataset stage turns it into a reject with that reason.

**The demo.** Each triplet has its own sky noise, background, PSF width (New broader than the deep
Reference), field stars and, at the centre, one of:

* Real -- ``supernova`` (a new point source with the New PSF on or near a host galaxy), ``hostless`` (a
  new point source on empty sky), ``variable_star`` (a star in both images whose flux changed: a PSF-shaped
  residual of either sign);
* Bogus -- ``cosmic_ray`` (a few pixels sharper than the PSF, New only), ``dipole`` (a star misaligned
  between the images), ``saturated_star`` (clipped cores and a bleed trail leaving a crater), ``hot_pixel``
  (a hot pixel or column segment), ``satellite_trail`` (a line across the field), ``edge`` (the candidate on
  the boundary of a chip gap), ``ghost`` (a broad, faint ring or blob from internal reflections).

Signal-to-noise ratios are drawn log-uniformly from faint to bright, so some Real candidates are hard.
Every triplet is drawn from its own generator seeded by (seed, id), so a triplet does not depend on the
number of shards or on the other triplets.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from skytext.core.contracts import rejects_frame
from skytext.core.sharding import in_shard

LABELS = ("Real", "Bogus")
REAL_SUBTYPES = ("supernova", "hostless", "variable_star")
BOGUS_SUBTYPES = ("cosmic_ray", "dipole", "saturated_star", "hot_pixel", "satellite_trail", "edge", "ghost")
CHANNELS = ("new", "ref", "diff")
META_COLUMNS = {"obs_id": "string", "modality": "string", "path": "string", "row": "int64", "label": "string",
                "subtype": "string", "gt_attrs": "string"}


# ------------------------------------------------------------------------------------------ the contract


def triplet_problem(cube: np.ndarray, label: object, size: int | None) -> tuple[str, str] | None:
    """``(reason, detail)`` when a triplet cannot be used, else ``None``."""
    cube = np.asarray(cube)
    if cube.ndim != 3 or cube.shape[0] != 3 or cube.shape[1] != cube.shape[2] or (size and cube.shape[1] != size):
        want = f"(3, {size}, {size})" if size else "(3, S, S)"
        return "wrong_shape", f"cutouts have shape {tuple(cube.shape)}, expected {want}"
    if not np.issubdtype(cube.dtype, np.number):
        return "wrong_dtype", f"cutouts have dtype {cube.dtype}"
    if str(label) not in LABELS:
        return "bad_label", f"label {str(label)[:40]!r} is not Real or Bogus"
    for name, img in zip(CHANNELS, cube):
        if not np.all(np.isfinite(img)):
            return "non_finite", f"{name} cutout holds {int((~np.isfinite(img)).sum())} NaN/inf pixels"
        if not np.any(img):
            return "all_zero", f"{name} cutout is all zero"
        if float(img.max()) == float(img.min()):
            return "constant_cutout", f"{name} cutout is constant ({float(img.max()):g})"
    return None


def meta_frame(rows: list[dict]) -> pd.DataFrame:
    """The ``triplets.parquet`` table from dicts with :data:`META_COLUMNS` keys."""
    df = pd.DataFrame(rows, columns=list(META_COLUMNS))
    return df.astype(META_COLUMNS)


def write_shard(cubes: np.ndarray, meta: pd.DataFrame, rejects: list[dict], npy: str | Path, parquet: str | Path,
                rejects_path: str | Path) -> None:
    """Write one acquisition shard (``meta.path`` must already name ``npy``)."""
    for p in (npy, parquet, rejects_path):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    np.save(npy, np.asarray(cubes, dtype=np.float32))
    meta.reset_index(drop=True).to_parquet(parquet, index=False)
    rejects_frame(rejects).to_parquet(rejects_path, index=False)


# ------------------------------------------------------------------------------------------ drawing


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little"))


def _psf(size: int, x0: float, y0: float, sigma: float) -> np.ndarray:
    """A unit-flux circular Gaussian centred at (x0, y0)."""
    ax = np.arange(size, dtype=np.float64)
    gx = np.exp(-0.5 * ((ax - x0) / sigma) ** 2)
    gy = np.exp(-0.5 * ((ax - y0) / sigma) ** 2)
    return np.outer(gy, gx) / (2 * np.pi * sigma**2)


def _galaxy(size: int, x0: float, y0: float, sigma: float, q: float, theta: float) -> np.ndarray:
    """A unit-flux elliptical Gaussian host galaxy."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = xx - x0, yy - y0
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    g = np.exp(-0.5 * ((u / sigma) ** 2 + (v / (sigma * q)) ** 2))
    return g / g.sum()


def _point_flux(snr: float, noise: float, sigma: float) -> float:
    """Flux of a Gaussian point source detected at ``snr`` in white noise (optimal-filter S/N)."""
    return float(snr * noise * np.sqrt(4 * np.pi) * sigma)


class _Scene:
    """Everything of one triplet: sky, PSFs and the additive parts of New and Reference before noise."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng = size, rng
        self.c = (size - 1) / 2.0
        self.psf_n = rng.uniform(1.2, 2.4)
        self.psf_r = rng.uniform(0.8, self.psf_n - 0.2)
        self.noise_n = rng.uniform(3.0, 9.0)
        self.noise_r = self.noise_n * rng.uniform(0.3, 0.6)
        self.bg_n, self.bg_r = rng.uniform(50, 400), rng.uniform(50, 400)
        self.new = np.zeros((size, size))  # sources in New (New PSF)
        self.ref = np.zeros((size, size))  # sources in Reference (Reference PSF)
        self.ref_conv = np.zeros((size, size))  # the same sources at the New PSF (what subtraction removes)
        self.diff_extra = np.zeros((size, size))  # artefacts of the subtraction itself
        self.new_mask = np.ones((size, size), bool)  # False: no data in New (chip gap)
        self.saturation: float | None = None

    def centre(self, jitter: float = 1.5) -> tuple[float, float]:
        return self.c + self.rng.uniform(-jitter, jitter), self.c + self.rng.uniform(-jitter, jitter)

    def star(self, x: float, y: float, flux: float, new: bool = True, ref: bool = True, ref_flux: float | None = None):
        if new:
            self.new += flux * _psf(self.size, x, y, self.psf_n)
        if ref:
            f = flux if ref_flux is None else ref_flux
            self.ref += f * _psf(self.size, x, y, self.psf_r)
            self.ref_conv += f * _psf(self.size, x, y, self.psf_n)

    def field(self) -> None:
        """Field stars away from the centre, in both images."""
        for _ in range(self.rng.poisson(6)):
            x, y = self.rng.uniform(0, self.size, 2)
            if np.hypot(x - self.c, y - self.c) < 12:
                continue
            self.star(x, y, 10 ** self.rng.uniform(2.5, 4.5))

    def render(self) -> np.ndarray:
        """``[3, S, S]`` float32: New and Reference with background and noise, and their difference."""
        rng, s = self.rng, self.size
        noise_n = rng.normal(0, self.noise_n, (s, s))
        noise_r = rng.normal(0, self.noise_r, (s, s))
        kern = np.sqrt(max(self.psf_n**2 - self.psf_r**2, 1e-3))
        new = self.bg_n + self.new + noise_n
        ref = self.bg_r + self.ref + noise_r
        ref_matched = self.ref_conv + gaussian_filter(noise_r, kern) * 0.9
        if self.saturation is not None:
            new = np.minimum(new, self.bg_n + self.saturation)
            ref = np.minimum(ref, self.bg_r + self.saturation)
            ref_matched = np.minimum(ref_matched, self.saturation * 0.8)
        diff = (new - self.bg_n) - ref_matched + self.diff_extra
        new = np.where(self.new_mask, new, 0.0)
        diff = np.where(self.new_mask, diff, 0.0)
        return np.stack([new, ref, diff]).astype(np.float32)


def _snr(rng: np.random.Generator, lo: float = 6.0, hi: float = 80.0) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _real(sc: _Scene, subtype: str) -> dict:
    rng = sc.rng
    x, y = sc.centre()
    snr = _snr(rng)
    flux = _point_flux(snr, sc.noise_n, sc.psf_n)
    attrs: dict = {"snr": round(snr, 1)}
    if subtype == "supernova":
        off, ang = rng.uniform(0, 8), rng.uniform(0, 2 * np.pi)
        gsig, q, th = rng.uniform(3, 9), rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)
        gflux = 10 ** rng.uniform(3.5, 5.0)
        host = gflux * _galaxy(sc.size, x + off * np.cos(ang), y + off * np.sin(ang), gsig, q, th)
        sc.new += host
        sc.ref += host
        sc.ref_conv += host
        sc.star(x, y, flux, ref=False)
        attrs["host_offset_px"] = round(off, 1)
    elif subtype == "hostless":
        sc.star(x, y, flux, ref=False)
    else:  # variable_star: a star in both, flux changed by +-flux
        base = flux * rng.uniform(1.0, 4.0)
        sign = rng.choice([-1.0, 1.0])
        sc.star(x, y, base + sign * flux, ref_flux=base)
        attrs["sign"] = int(sign)
    return attrs


def _bogus(sc: _Scene, subtype: str) -> dict:
    # Over 60 lines on purpose: one short branch per artefact subtype, read side by side; the order of the
    # random draws is part of the seeded demo, so the branches stay in one function.
    rng, s = sc.rng, sc.size
    x, y = sc.centre()
    amp = _snr(rng, 10, 80) * sc.noise_n
    attrs: dict = {}
    if subtype == "cosmic_ray":
        n = int(rng.integers(1, 5))
        ang = rng.uniform(0, np.pi)
        img = np.zeros((s, s))
        for k in range(n):
            xi, yi = int(round(x + k * np.cos(ang))), int(round(y + k * np.sin(ang)))
            img[yi % s, xi % s] += amp * rng.uniform(0.6, 1.0)
        sc.new += img
        attrs["pixels"] = n
    elif subtype == "dipole":
        d, ang = rng.uniform(0.6, 2.0), rng.uniform(0, 2 * np.pi)
        flux = _point_flux(_snr(rng, 30, 300), sc.noise_n, sc.psf_n)
        dx, dy = 0.5 * d * np.cos(ang), 0.5 * d * np.sin(ang)
        sc.new += flux * _psf(s, x + dx, y + dy, sc.psf_n)
        sc.ref += flux * _psf(s, x - dx, y - dy, sc.psf_r)
        sc.ref_conv += flux * _psf(s, x - dx, y - dy, sc.psf_n)
        attrs["shift_px"] = round(d, 2)
    elif subtype == "saturated_star":
        flux = 10 ** rng.uniform(5.5, 6.5)
        sc.star(x, y, flux)
        sc.saturation = float(flux * _psf(s, x, y, sc.psf_n).max() * rng.uniform(0.1, 0.4))
        top = int(rng.integers(4, 20))
        yi, xi = int(round(y)), int(round(x))
        sc.new[max(0, yi - top):min(s, yi + top), xi] += sc.saturation * 0.5
    elif subtype == "hot_pixel":
        yi, xi = int(round(y)), int(round(x))
        if rng.random() < 0.5:
            sc.new[yi, xi] += amp
            attrs["kind"] = "pixel"
        else:
            a, b = sorted(rng.integers(0, s, 2))
            a, b = min(a, yi - 3), max(b, yi + 3)
            sc.new[max(0, a):min(s, b), xi] += amp * rng.uniform(0.2, 0.5)
            attrs["kind"] = "column"
    elif subtype == "satellite_trail":
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:s, 0:s]
        dist = (xx - x) * np.sin(ang) - (yy - y) * np.cos(ang)
        width = rng.uniform(0.6, 1.2)
        sc.new += amp * 0.5 * np.exp(-0.5 * (dist / width) ** 2)
        attrs["angle_deg"] = round(float(np.degrees(ang)), 1)
    elif subtype == "edge":
        cut = int(round(x)) + int(rng.integers(-4, 5))
        side = rng.choice(["left", "right", "top", "bottom"])
        yy, xx = np.mgrid[0:s, 0:s]
        coord = {"left": xx < cut, "right": xx > cut, "top": yy < cut, "bottom": yy > cut}[side]
        sc.new_mask = ~coord
        sc.diff_extra += amp * 0.4 * np.exp(-0.5 * ((np.where(side in ("left", "right"), xx, yy) - cut) / 1.0) ** 2)
        attrs["side"] = str(side)
    else:  # ghost: a broad faint ring or blob
        yy, xx = np.mgrid[0:s, 0:s]
        r = np.hypot(xx - x, yy - y)
        radius, width = rng.uniform(3, 9), rng.uniform(1.5, 3.0)
        ring = np.exp(-0.5 * ((r - radius) / width) ** 2) if rng.random() < 0.6 else np.exp(-0.5 * (r / (radius + 2)) ** 2)
        sc.new += ring * sc.noise_n * rng.uniform(1.0, 3.0)
        attrs["radius_px"] = round(radius, 1)
    return attrs


def draw_triplet(seed: int, triplet_id: str, label: str, subtype: str, size: int) -> tuple[np.ndarray, dict]:
    """One demo triplet ``[3, size, size]`` and its ground-truth attributes."""
    rng = _rng(seed, triplet_id)
    sc = _Scene(size, rng)
    sc.field()
    attrs = _real(sc, subtype) if label == "Real" else _bogus(sc, subtype)
    attrs.update(psf_new_px=round(sc.psf_n, 2), psf_ref_px=round(sc.psf_r, 2), noise_new=round(sc.noise_n, 2))
    return sc.render(), attrs


def demo_catalogue(n: int, seed: int) -> pd.DataFrame:
    """``triplet_id, label, subtype`` of the demo: half Real, half Bogus, subtypes in turn within a class."""
    rng = _rng(seed, "catalogue")
    rows = []
    for i in range(n):
        label = LABELS[i % 2]
        subs = REAL_SUBTYPES if label == "Real" else BOGUS_SUBTYPES
        rows.append((f"dt{i:05d}", label, subs[(i // 2) % len(subs)]))
    df = pd.DataFrame(rows, columns=["triplet_id", "label", "subtype"])
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


def _broken(cube: np.ndarray, k: int) -> np.ndarray:
    cube = cube.copy()
    if k % 2 == 0:
        cube[0, 40:45, 40:45] = np.nan
    else:
        cube[1] = 0.0
    return cube


def demo_shard(cfg: dict, seed: int, shard: int, n_shards: int, npy_path: str) -> tuple[np.ndarray, pd.DataFrame]:
    """The triplets of one acquisition shard (``cfg`` is the ``transients.demo`` section), plus
    ``bad_triplets`` broken ones (NaNs, an all-zero cutout) that the dataset stage must reject."""
    cat = demo_catalogue(int(cfg["n_triplets"]), seed)
    cat = cat[in_shard(cat["triplet_id"], shard, n_shards)]
    size = int(cfg["size"])
    cubes, rows = [], []
    for tid, label, sub in cat.itertuples(index=False):
        cube, attrs = draw_triplet(seed, tid, label, sub, size)
        cubes.append(cube)
        rows.append({"obs_id": tid, "label": label, "subtype": sub, "gt_attrs": json.dumps(attrs, sort_keys=True)})
    for k in range(int(cfg["bad_triplets"])):
        tid = f"dt-bad-{shard}-{k}"
        cube, attrs = draw_triplet(seed, tid, "Real", "hostless", size)
        cubes.append(_broken(cube, k))
        rows.append({"obs_id": tid, "label": "Real", "subtype": "hostless", "gt_attrs": json.dumps(attrs)})
    for i, r in enumerate(rows):
        r.update(modality="triplet", path=str(npy_path), row=i)
    arr = np.stack(cubes) if cubes else np.zeros((0, 3, size, size), np.float32)
    return arr, meta_frame(rows)
