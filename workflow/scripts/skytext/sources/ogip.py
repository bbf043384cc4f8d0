"""OGIP PHA spectra (type I, one SPECTRUM extension), RMF channel energies, rebinning onto the study's grid,
and the demo's toy detector response.

:func:`grid_counts` is the one gate every spectrum passes (demo and CSC alike): the counts on the grid of
``n_channels`` channels, or :class:`PHAError` whose ``reason`` becomes a reject (``truncated_pha``,
``not_ogip``, ``type_ii_pha``, ``wrong_channels``, ``no_counts``, ``missing_file``). A Chandra ACIS PI
spectrum (1024 channels of 14.6 eV) is rebinned onto the grid by its channel energies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


class PHAError(ValueError):
    """A spectrum that cannot be used: ``reason`` (the reject's reason) and ``detail`` (which file, why)."""

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


log = logging.getLogger(__name__)
ACIS_PI_KEV = 0.0146  # Chandra ACIS PI channel width: PI channel n spans (n - 1) .. n x 14.6 eV
ACIS_PI_CHANNELS = 1024


@dataclass
class Spectrum:
    """One OGIP type-I spectrum: counts per channel row, channel numbers, good-quality rows, header."""

    counts: np.ndarray  # float64, RATE x EXPOSURE when the file holds rates
    exposure: float
    channel: np.ndarray  # channel numbers (the CHANNEL column, or TLMIN + row order when it is unusable)
    good: np.ndarray  # bool: QUALITY == 0 (all True without a QUALITY column)
    header: dict


def _spectrum_hdu(hdul):
    return next((h for h in hdul[1:] if h.header.get("HDUCLAS1") == "SPECTRUM" or h.header.get("EXTNAME") == "SPECTRUM"),
                None)


def _channels(ext, n: int, what: str) -> np.ndarray:
    """Channel numbers of the ``n`` rows: the CHANNEL column when strictly increasing, else TLMIN + row order."""
    names = [c.upper() for c in ext.columns.names]
    if "CHANNEL" not in names:
        return np.arange(n) + 1
    i = names.index("CHANNEL")
    ch = np.asarray(ext.data.field(i), dtype=np.int64)
    if n < 2 or np.all(np.diff(ch) > 0):
        return ch
    tlmin = int(ext.header.get(f"TLMIN{i + 1}", 1))
    log.warning("%s: CHANNEL column not strictly increasing; channels taken as TLMIN%d=%d + row order", what, i + 1, tlmin)
    return tlmin + np.arange(n)


def read_spectrum(path: str | Path) -> Spectrum:
    """The OGIP type-I spectrum of ``path``; :class:`PHAError` when the file cannot be used."""
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
            ext = _spectrum_hdu(hdul)
            if ext is None or ext.header.get("HDUCLASS") != "OGIP":
                raise PHAError("not_ogip", f"{p.name} has no OGIP SPECTRUM extension")
            names = [n.upper() for n in ext.columns.names]
            col = "COUNTS" if "COUNTS" in names else "RATE" if "RATE" in names else None
            if col is None:
                raise PHAError("not_ogip", f"{p.name} has neither COUNTS nor RATE")
            data = np.asarray(ext.data[col], dtype=np.float64)
            if data.ndim != 1:
                raise PHAError("type_ii_pha", f"{p.name} holds {data.shape[0]} spectra (type II PHA, e.g. grating "
                                              "orders); one type-I spectrum is needed")
            header = dict(ext.header)
            channel = _channels(ext, len(data), p.name)
            good = (np.asarray(ext.data["QUALITY"]) == 0) if "QUALITY" in names else np.ones(len(data), bool)
    except PHAError:
        raise
    except Exception as exc:  # noqa: BLE001 - astropy raises many types for a cut or corrupt file
        raise PHAError("truncated_pha", f"{p.name} cannot be read: {type(exc).__name__}: {str(exc)[:120]}") from exc
    exposure = float(header.get("EXPOSURE", 0.0) or 0.0)
    if col == "RATE":
        data = data * exposure
    detchans = header.get("DETCHANS")
    if detchans is not None and int(detchans) != len(data):
        raise PHAError("wrong_channels", f"{p.name} has {len(data)} channel rows but DETCHANS = {int(detchans)}")
    return Spectrum(data, exposure, channel, good, header)


def _check_counts(counts: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(counts)) or counts.sum() <= 0:
        raise PHAError("no_counts", f"{what} has no counts")


def read_pha(path: str | Path, n_channels: int | None) -> tuple[np.ndarray, float]:
    """(counts [float32], exposure) of an OGIP PHA file of ``n_channels`` channels (None: any number);
    :class:`PHAError` when it cannot be used."""
    sp = read_spectrum(path)
    _check_counts(sp.counts, Path(path).name)
    if n_channels is not None and len(sp.counts) != n_channels:
        raise PHAError("wrong_channels", f"{Path(path).name} has {len(sp.counts)} channels, expected {n_channels}")
    return sp.counts.astype(np.float32), sp.exposure


def is_acis_pi(sp: Spectrum) -> bool:
    """Whether ``sp`` is a Chandra ACIS PI spectrum (1024 channels of 14.6 eV, energies known without an RMF)."""
    h = sp.header
    return (len(sp.counts) == ACIS_PI_CHANNELS and str(h.get("TELESCOP", "")).upper() == "CHANDRA"
            and str(h.get("INSTRUME", "")).upper().startswith("ACIS") and str(h.get("CHANTYPE", "PI")).upper() == "PI")


def rebin_energies(counts: np.ndarray, energy: np.ndarray, n_channels: int, e_min: float, e_max: float) -> np.ndarray:
    """``counts`` of channels with mid energies ``energy`` (keV; NaN: unknown) summed into ``n_channels`` even
    bins over e_min..e_max (channels outside dropped)."""
    edges = np.linspace(e_min, e_max, n_channels + 1)
    ok = np.isfinite(energy) & (energy >= e_min) & (energy < e_max)
    out = np.zeros(n_channels)
    np.add.at(out, np.clip(np.searchsorted(edges, energy[ok], side="right") - 1, 0, n_channels - 1), counts[ok])
    return out


def grid_counts(path: str | Path, n_channels: int, e_range: tuple[float, float]) -> tuple[np.ndarray, float]:
    """(counts on the study's grid [float32], exposure): a spectrum of ``n_channels`` channels as it is, a
    Chandra ACIS PI spectrum rebinned by its PI energies (good-quality channels); else ``wrong_channels``."""
    sp, name = read_spectrum(path), Path(path).name
    _check_counts(sp.counts, name)
    if len(sp.counts) == n_channels:
        return sp.counts.astype(np.float32), sp.exposure
    if not is_acis_pi(sp):
        raise PHAError("wrong_channels", f"{name} has {len(sp.counts)} channels, expected {n_channels} (or a "
                                         f"Chandra ACIS PI spectrum of {ACIS_PI_CHANNELS} channels to rebin)")
    energy = (sp.channel - 0.5) * ACIS_PI_KEV
    out = rebin_energies(sp.counts[sp.good], energy[sp.good], n_channels, *e_range)
    _check_counts(out, f"{name} in {e_range[0]}-{e_range[1]} keV")
    log.info("%s: ACIS PI spectrum of %d channels rebinned onto %d", name, len(sp.counts), n_channels)
    return out.astype(np.float32), sp.exposure


def read_ebounds(rmf: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(channel, E_MIN, E_MAX) of an RMF's EBOUNDS; channel numbers by TLMIN + row order (logged) when the
    CHANNEL column is not strictly increasing (some archive responses hold all zeros there)."""
    from astropy.io import fits

    name = Path(rmf).name
    try:
        with fits.open(rmf, memmap=False) as hdul:
            eb = hdul["EBOUNDS"]
            lo, hi = (np.asarray(eb.data[c], dtype=float) for c in ("E_MIN", "E_MAX"))
            ch = _channels(eb, len(lo), f"{name} EBOUNDS")
    except Exception as exc:  # noqa: BLE001
        raise PHAError("bad_response", f"{name}: no usable EBOUNDS ({type(exc).__name__})") from exc
    return ch, lo, hi


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
        """Channel centre energies (keV)."""
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
