"""OGIP PHA spectra (type I, one SPECTRUM extension) and the demo's toy detector response.

:func:`read_pha` is the one gate every spectrum passes (demo and CSC alike): it returns the counts or
raises :class:`PHAError` whose ``reason`` becomes a reject (``truncated_pha``, ``not_ogip``,
``wrong_channels``, ``no_counts``, ``missing_file``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


class PHAError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def write_pha(path: str | Path, counts: np.ndarray, exposure: float, header: dict | None = None) -> None:
    """Write ``counts`` ([n_channels] integers) as an OGIP type-I PHA file."""
    from astropy.io import fits

    counts = np.asarray(counts, dtype=np.int32)
    cols = [fits.Column(name="CHANNEL", format="J", array=np.arange(1, len(counts) + 1, dtype=np.int32)),
            fits.Column(name="COUNTS", format="J", unit="count", array=counts)]
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    h = hdu.header
    for key, value in {"HDUCLASS": "OGIP", "HDUCLAS1": "SPECTRUM", "HDUVERS": "1.2.1", "HDUCLAS2": "TOTAL",
                       "HDUCLAS3": "COUNT", "TELESCOP": "DEMO", "INSTRUME": "TOY", "FILTER": "NONE",
                       "EXPOSURE": float(exposure), "AREASCAL": 1.0, "BACKSCAL": 1.0, "CORRSCAL": 0.0,
                       "BACKFILE": "none", "CORRFILE": "none", "RESPFILE": "none", "ANCRFILE": "none",
                       "POISSERR": True, "CHANTYPE": "PI", "DETCHANS": len(counts), "TLMIN1": 1}.items():
        h[key] = value
    for key, value in (header or {}).items():
        h[key] = value
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def read_pha(path: str | Path, n_channels: int | None = None) -> tuple[np.ndarray, float]:
    """(counts [float32], exposure) of an OGIP PHA file; :class:`PHAError` when it cannot be used."""
    from astropy.io import fits

    p = Path(path)
    if not p.exists():
        raise PHAError("missing_file", f"{p} does not exist")
    size = p.stat().st_size
    if size == 0 or size % 2880:
        raise PHAError("truncated_pha", f"{p.name} is {size} bytes, not a whole number of 2880-byte FITS blocks")
    try:
        with fits.open(p, memmap=False) as hdul:
            hdul.verify("silentfix")
            ext = next((h for h in hdul[1:] if h.header.get("HDUCLAS1") == "SPECTRUM"
                        or h.header.get("EXTNAME") == "SPECTRUM"), None)
            if ext is None or ext.header.get("HDUCLASS") != "OGIP":
                raise PHAError("not_ogip", f"{p.name} has no OGIP SPECTRUM extension")
            names = [n.upper() for n in ext.columns.names]
            col = "COUNTS" if "COUNTS" in names else "RATE" if "RATE" in names else None
            if col is None:
                raise PHAError("not_ogip", f"{p.name} has neither COUNTS nor RATE")
            data = np.asarray(ext.data[col], dtype=np.float64)
            exposure = float(ext.header.get("EXPOSURE", 0.0) or 0.0)
    except PHAError:
        raise
    except Exception as exc:  # noqa: BLE001 - astropy raises many types for a cut or corrupt file
        raise PHAError("truncated_pha", f"{p.name} cannot be read: {type(exc).__name__}: {str(exc)[:120]}") from exc
    if col == "RATE":
        data = data * exposure
    if n_channels is not None and len(data) != n_channels:
        raise PHAError("wrong_channels", f"{p.name} has {len(data)} channels, expected {n_channels}")
    if not np.all(np.isfinite(data)) or data.sum() <= 0:
        raise PHAError("no_counts", f"{p.name} has no counts")
    return data.astype(np.float32), exposure


@dataclass
class Response:
    """Toy ARF x Gaussian RMF on a model energy grid: counts = matrix.T @ (photon flux x bin width)."""

    e_mid: np.ndarray  # model grid bin centres (keV)
    de: np.ndarray  # model grid bin widths (keV)
    matrix: np.ndarray  # [n_model, n_channels]: effective area (cm^2) x probability of the channel
    ch_lo: np.ndarray
    ch_hi: np.ndarray
    exposure: float

    @property
    def ch_mid(self) -> np.ndarray:
        return 0.5 * (self.ch_lo + self.ch_hi)

    def fold(self, photon_flux: np.ndarray) -> np.ndarray:
        """Expected counts per channel of a photon flux density [..., n_model] (photons/cm^2/s/keV)."""
        return (photon_flux * self.de) @ self.matrix * self.exposure


def load_response(folder: str | Path, n_channels: int) -> Response:
    """The demo response from ``resources/spectra/`` (arf.csv, response.yaml)."""
    folder = Path(folder)
    cfg = yaml.safe_load((folder / "response.yaml").read_text())
    arf = np.loadtxt(folder / "arf.csv", delimiter=",", comments="#", skiprows=2)
    g = cfg["model_grid"]
    edges = np.geomspace(g["e_min_kev"], g["e_max_kev"], g["n"] + 1)
    e_mid, de = np.sqrt(edges[:-1] * edges[1:]), np.diff(edges)
    area = np.interp(e_mid, arf[:, 0], arf[:, 1], left=0.0, right=0.0)
    ch_edges = np.linspace(cfg["e_min_kev"], cfg["e_max_kev"], n_channels + 1)
    sigma = cfg["fwhm_1kev"] * np.sqrt(e_mid) / 2.3548
    from scipy.special import erf

    z = (ch_edges[None, :] - e_mid[:, None]) / (np.sqrt(2) * sigma[:, None])
    prob = 0.5 * np.diff(erf(z), axis=1)
    return Response(e_mid, de, area[:, None] * prob, ch_edges[:-1], ch_edges[1:], float(cfg["exposure_s"]))
