"""Triplets as PNG images for a vision model and for the report.

Each cutout is stretched on its own with IRAF's ZScale (astropy; as Stoppa et al.; ``stretch: zscale``) or min-max,
mapped to 0-255 greyscale, and the three are placed side by side -- New | Reference | Difference -- with a
2-pixel white separator and, optionally, a red circle of radius 8 cutout pixels around the centre, where the
candidate sits. ``scale`` enlarges every pixel (nearest neighbour).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

SEPARATOR = 2
MARKER_RADIUS = 8


def zscale_limits(img: np.ndarray) -> tuple[float, float]:
    """IRAF ZScale limits (astropy's ``ZScaleInterval`` with its defaults)."""
    from astropy.visualization import ZScaleInterval

    lo, hi = ZScaleInterval().get_limits(np.asarray(img, dtype=np.float64))
    return float(lo), float(hi)


def to_uint8(img: np.ndarray, stretch: str) -> np.ndarray:
    """One cutout as 0-255 greyscale."""
    img = np.nan_to_num(np.asarray(img, dtype=np.float64))
    if stretch == "zscale":
        lo, hi = zscale_limits(img)
    elif stretch == "minmax":
        lo, hi = float(img.min()), float(img.max())
    else:
        raise ValueError(f"unknown stretch {stretch!r} (zscale or minmax)")
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((img - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)


def triplet_image(cube: np.ndarray, stretch: str, scale: int, marker: bool) -> Image.Image:
    """New | Reference | Difference side by side as one RGB image (``transients.prompt``: ``stretch``, ``scale``,
    ``marker``)."""
    cube = np.asarray(cube)
    s = cube.shape[-1]
    panels = [to_uint8(c, stretch) for c in cube]
    width = 3 * s + 2 * SEPARATOR
    canvas = np.full((s, width), 255, np.uint8)
    for i, p in enumerate(panels):
        canvas[:, i * (s + SEPARATOR): i * (s + SEPARATOR) + s] = p
    im = Image.fromarray(canvas, "L").convert("RGB")
    if scale > 1:
        im = im.resize((width * scale, s * scale), Image.NEAREST)
    if marker:
        draw = ImageDraw.Draw(im)
        r = MARKER_RADIUS * scale
        for i in range(3):
            cx = (i * (s + SEPARATOR) + s / 2) * scale
            cy = s / 2 * scale
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(255, 0, 0), width=1)
    return im


def triplet_png(cube: np.ndarray, stretch: str, scale: int, marker: bool) -> bytes:
    """PNG bytes of :func:`triplet_image` (deterministic: no metadata, fixed compression)."""
    buf = io.BytesIO()
    triplet_image(cube, stretch, scale, marker).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()
