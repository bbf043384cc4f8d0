"""The demo sky's images: one painter per object class (before PSF and noise), then PSF, sky noise, cosmic
rays and an asinh stretch. Pure functions of their random generator, so every image is reproducible."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

# ---------------------------------------------------------------------------------------------------------
# image rendering
# ---------------------------------------------------------------------------------------------------------


def _grid(size: int):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    return (x - c) / size, (y - c) / size  # in units of the image side


def _rotate(x, y, angle, dx=0.0, dy=0.0):
    ca, sa = math.cos(angle), math.sin(angle)
    xr = (x - dx) * ca + (y - dy) * sa
    yr = -(x - dx) * sa + (y - dy) * ca
    return xr, yr


def _stars(img, xs, ys, fluxes):
    size = img.shape[0]
    ix = np.clip(np.round(xs).astype(int), 0, size - 1)
    iy = np.clip(np.round(ys).astype(int), 0, size - 1)
    np.add.at(img, (iy, ix), fluxes)
    return img


@dataclass(frozen=True)
class _Frame:
    """Pixel grid and the per-image pose (orientation, offset, size) shared by every class's painter."""

    x: np.ndarray
    y: np.ndarray
    angle: float
    dx: float
    dy: float
    scale: float
    size: int

    def rotated(self, angle: float | None = None):
        """The frame's coordinates rotated by ``angle`` (default its own) and shifted by its offset."""
        return _rotate(self.x, self.y, self.angle if angle is None else angle, self.dx, self.dy)


def _spiral(f: _Frame, attrs: dict, rng: np.random.Generator) -> np.ndarray:
    incl = rng.uniform(0.55, 1.0)
    xr, yr = f.rotated()
    yr = yr / incl
    r = np.hypot(xr, yr) / f.scale + 1e-3
    th = np.arctan2(yr, xr)
    pitch = math.radians(12 if attrs["pitch"] == "tight" else 30)
    phase = th - np.log(r) / math.tan(pitch)
    arms = np.cos(attrs["arms"] * phase) ** 2 * np.exp(-r / 0.18) * 1.6
    img = arms * (r > 0.05) + 1.2 * np.exp(-((r / 0.045) ** 2))
    if attrs["bar"]:
        img += 1.4 * np.exp(-((xr / f.scale / 0.17) ** 2) - (yr / f.scale / 0.035) ** 2)
    return img * np.exp(-((r / 0.42) ** 8))


def _elliptical(f: _Frame, attrs: dict, rng: np.random.Generator) -> np.ndarray:
    q = rng.uniform(0.85, 1.0) if attrs["shape"] == "round" else rng.uniform(0.35, 0.55)
    re = (0.06 if attrs["size"] == "compact" else 0.16) * f.scale
    xr, yr = f.rotated()
    rell = np.hypot(xr, yr / q)
    img = 0.35 * np.exp(-7.67 * ((rell / re) ** 0.25 - 1))
    return np.minimum(img, 3.0) * np.exp(-((rell / 0.45) ** 4))


def _star_positions(cls: str, f: _Frame, attrs: dict, rng: np.random.Generator):
    """(x, y, flux) of the stars of a globular cluster, an open cluster or a field, in units of the image."""
    if cls == "globular":
        n = int(rng.integers(350, 600))
        a = (0.035 if attrs["core"] == "dense" else 0.11) * f.scale
        u = rng.uniform(0, 1, n)
        rad = np.minimum(a / np.sqrt(np.maximum(u ** (-2 / 3) - 1, 1e-6)), 0.6)
        phi = rng.uniform(0, 2 * math.pi, n)
        return rad * np.cos(phi) + f.dx, rad * np.sin(phi) + f.dy, rng.lognormal(0, 0.6, n) * 0.6
    if cls == "open":
        n = int(rng.integers(12, 25) if attrs["rich"] == "poor" else rng.integers(45, 80))
        xs, ys = rng.normal(f.dx, 0.2, n), rng.normal(f.dy, 0.2, n)
        return xs, ys, rng.lognormal(1.2, 0.5, n) * 1.5
    n = int(rng.integers(500, 900) if attrs["density"] == "crowded" else rng.integers(60, 140))
    xs, ys = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
    return xs, ys, rng.lognormal(-0.3, 0.7, n) * 0.7


def _stellar(cls: str):
    def paint(f: _Frame, attrs: dict, rng: np.random.Generator) -> np.ndarray:
        xs, ys, flux = _star_positions(cls, f, attrs, rng)
        img = np.zeros((f.size, f.size), np.float32)
        return _stars(img, (xs + 0.5) * f.size, (ys + 0.5) * f.size, flux.astype(np.float32) * 8)

    return paint


def _lens(f: _Frame, attrs: dict, rng: np.random.Generator) -> np.ndarray:
    xr, yr = f.rotated()
    r = np.hypot(xr, yr)
    th = np.arctan2(yr, xr)
    img = 2.0 * np.exp(-((r / (0.04 * f.scale)) ** 1.0))
    rad = rng.uniform(0.17, 0.27) * f.scale
    ring = np.exp(-(((r - rad) / 0.018) ** 2))
    if attrs["arcs"] == "ring":
        mask = 0.7 + 0.3 * np.cos(th - rng.uniform(0, 6.28))
    elif attrs["arcs"] == "single":
        width = rng.uniform(0.5, 0.9)
        mask = np.exp(-((np.angle(np.exp(1j * th)) / width) ** 2))
    else:
        mask = np.zeros_like(th)
        for c in rng.uniform(-math.pi, math.pi, int(rng.integers(3, 5))):
            mask += np.exp(-((np.angle(np.exp(1j * (th - c))) / 0.25) ** 2))
    return img + 1.5 * ring * mask


def _nebula(f: _Frame, attrs: dict, rng: np.random.Generator) -> np.ndarray:
    xr, yr = f.rotated()
    r = np.hypot(xr, yr * rng.uniform(0.7, 1.0))
    noise = gaussian_filter(rng.normal(0, 1, (f.size, f.size)).astype(np.float32), f.size / 24)
    noise /= noise.std() + 1e-6
    if attrs["morph"] == "shell":
        rad = rng.uniform(0.22, 0.32) * f.scale
        img = np.exp(-(((r - rad) / 0.045) ** 2)) * (1.0 + 0.35 * noise)
    else:
        fil = gaussian_filter(rng.normal(0, 1, (f.size, f.size)).astype(np.float32), f.size / 40)
        fil = np.exp(-((fil / (fil.std() * 0.12)) ** 2))  # thin ridges along the zero crossings
        img = fil * np.exp(-((r / 0.4) ** 2)) * (1.0 + 0.3 * noise)
    return np.clip(img, 0, None) * 1.3


def _planet(f: _Frame, attrs: dict, rng: np.random.Generator) -> np.ndarray:
    xr, yr = f.rotated(rng.normal(0, 0.15))
    rad = rng.uniform(0.17, 0.24) * f.scale
    rr = np.hypot(xr, yr) / rad
    disk = np.sqrt(np.clip(1 - rr**2, 0, 1))
    if attrs["kind"] == "banded":
        return 2.0 * disk * (1.0 + 0.45 * np.sin(yr / rad * rng.uniform(9, 14) + rng.uniform(0, 6)))
    tilt = rng.uniform(0.2, 0.4)
    re = np.hypot(xr, yr / tilt) / rad
    ringm = ((re > 1.35) & (re < 2.1)).astype(np.float32) * 1.4
    ringm[(rr < 1) & (yr < 0)] = 0  # the planet hides the far side
    return 1.6 * disk + ringm


_PAINTERS = {"spiral": _spiral, "elliptical": _elliptical, "globular": _stellar("globular"),
             "open": _stellar("open"), "field": _stellar("field"), "lens": _lens, "nebula": _nebula,
             "planet": _planet}


def render(cls: str, attrs: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """A float image of ``cls`` with ``attrs``: the object, before PSF, noise and stretch."""
    if cls not in _PAINTERS:
        raise ValueError(f"unknown demo class {cls!r}")
    x, y = _grid(size)
    angle = rng.uniform(0, 2 * math.pi)
    dx, dy = rng.normal(0, 0.04, size=2)
    scale = rng.uniform(0.8, 1.2)
    return _PAINTERS[cls](_Frame(x, y, angle, dx, dy, scale, size), attrs, rng).astype(np.float32)


def observe(img: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """PSF, sky noise, cosmic rays and an asinh stretch: float image -> uint8."""
    size = img.shape[0]
    img = gaussian_filter(img, rng.uniform(0.6, 1.6) * size / 96)
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    for _ in range(int(rng.poisson(1.5))):  # cosmic rays
        cx, cy = rng.integers(0, size, 2)
        length = int(rng.integers(1, 6))
        ang = rng.uniform(0, math.pi)
        for t in range(length):
            px, py = int(cx + t * math.cos(ang)), int(cy + t * math.sin(ang))
            if 0 <= px < size and 0 <= py < size:
                img[py, px] += rng.uniform(2, 5)
    stretched = np.arcsinh(np.clip(img, 0, None) / 0.1) / np.arcsinh(5.0 / 0.1)
    return (np.clip(stretched, 0, 1) * 255).astype(np.uint8)
