"""OGIP PHA I/O, the grid gate and the toy response: every kind of bad file is a PHAError with its reason; files
built like real archive products (grouped, degenerate EBOUNDS, HRC and grating) are rebinned or refused."""

import numpy as np
import pandas as pd
import pytest

from skytext.sources.ogip import PHAError, load_response, read_pha, write_pha
from conftest import ROOT


def test_roundtrip(tmp_path):
    c = np.arange(16) % 5
    write_pha(tmp_path / "a.pha", c, 1000.0)
    got, exp = read_pha(tmp_path / "a.pha", 16)
    assert np.array_equal(got, c) and exp == 1000.0


@pytest.mark.parametrize("kind,reason", [("truncated", "truncated_pha"), ("zeros", "no_counts"),
                                         ("channels", "wrong_channels"), ("notogip", "not_ogip"),
                                         ("missing", "missing_file"), ("garbage", "truncated_pha")])
def test_bad_files_are_named(tmp_path, kind, reason):
    p = tmp_path / "b.pha"
    c = np.ones(16, int)
    if kind == "truncated":
        write_pha(p, c, 1.0)
        p.write_bytes(p.read_bytes()[:4000])
    elif kind == "zeros":
        write_pha(p, np.zeros(16, int), 1.0)
    elif kind == "channels":
        write_pha(p, np.ones(20, int), 1.0)
    elif kind == "notogip":
        write_pha(p, c, 1.0, {"HDUCLASS": "NONE"})
    elif kind == "garbage":
        p.write_bytes(b"x" * 5760)
    with pytest.raises(PHAError) as err:
        read_pha(p, 16)
    assert err.value.reason == reason


def test_response_puts_a_line_in_its_channel():
    resp = load_response(ROOT / "resources" / "spectra", 64)
    for e_line in (1.0, 3.3, 6.7):
        flux = np.exp(-0.5 * ((resp.e_mid - e_line) / 0.01) ** 2)
        counts = resp.fold(flux)
        peak = resp.ch_mid[np.argmax(counts)]
        assert abs(peak - e_line) <= (resp.ch_hi[0] - resp.ch_lo[0])
    # the matrix never creates photons: a channel sum <= area x flux x exposure
    flat = np.ones_like(resp.e_mid)
    assert resp.fold(flat).sum() <= (resp.matrix.sum(1) * resp.de).sum() * resp.exposure * 1.0001


# ---------------------------------------------------------------- files built like real archive products
PI_KEV = 0.0146


def archive_pha(path, counts, header=None, quality=None, grouping=None, type2_rows=0):
    """A PHA laid out like a CSC/CIAO product: CHANNEL, COUNTS (J), optional QUALITY/GROUPING columns, BACKSCAL
    and the usual keywords; ``type2_rows`` > 0 writes a type-II file (grating orders) instead."""
    from astropy.io import fits

    n = len(counts)
    cols = [fits.Column("CHANNEL", "J", array=np.arange(1, n + 1))]
    if type2_rows:
        cols = [fits.Column("SPEC_NUM", "I", array=np.arange(1, type2_rows + 1)),
                fits.Column("CHANNEL", f"{n}J", array=np.tile(np.arange(1, n + 1), (type2_rows, 1))),
                fits.Column("COUNTS", f"{n}J", array=np.tile(counts, (type2_rows, 1)))]
    else:
        cols.append(fits.Column("COUNTS", "J", array=np.asarray(counts, np.int32)))
        if quality is not None:
            cols.append(fits.Column("QUALITY", "I", array=quality))
        if grouping is not None:
            cols.append(fits.Column("GROUPING", "I", array=grouping))
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    for k, v in {"HDUCLASS": "OGIP", "HDUCLAS1": "SPECTRUM", "HDUCLAS2": "TOTAL", "HDUCLAS3": "COUNT",
                 "HDUVERS": "1.2.1", "TELESCOP": "CHANDRA", "INSTRUME": "ACIS", "GRATING": "NONE", "CHANTYPE": "PI",
                 "DETCHANS": n, "EXPOSURE": 9876.5, "BACKSCAL": 2.5e-6, "AREASCAL": 1.0, "CORRSCAL": 0.0,
                 "POISSERR": True, "RESPFILE": "acisf01575_000N021_r0012_rmf3.fits", "TLMIN1": 1,
                 "TLMAX1": n, **(header or {})}.items():
        hdu.header[k] = v
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def archive_rmf(path, n=1024, channel=None, tlmin=1):
    """An RMF's EBOUNDS as CIAO writes it (PI channels of 14.6 eV); ``channel`` overrides the CHANNEL column."""
    from astropy.io import fits

    ch = np.arange(tlmin, tlmin + n)
    eb = fits.BinTableHDU.from_columns([fits.Column("CHANNEL", "J", array=ch if channel is None else channel),
                                        fits.Column("E_MIN", "E", array=(ch - 1) * PI_KEV),
                                        fits.Column("E_MAX", "E", array=ch * PI_KEV)], name="EBOUNDS")
    eb.header["TLMIN1"], eb.header["TLMAX1"], eb.header["DETCHANS"] = tlmin, tlmin + n - 1, n
    fits.HDUList([fits.PrimaryHDU(), eb]).writeto(path, overwrite=True)
    return path


def spectrum_1024(seed=0, total=4424):
    """A power-law counts spectrum of ``total`` counts on the 1024 ACIS PI channels."""
    rng = np.random.default_rng(seed)
    e = (np.arange(1, 1025) - 0.5) * PI_KEV
    shape = np.where((e > 0.3) & (e < 10), e ** -1.7, 0.0)
    return rng.multinomial(total, shape / shape.sum())


def in_band(counts, lo=0.5, hi=8.0):
    """Counts of PI channels whose centre lies in lo..hi keV."""
    e = (np.arange(1, len(counts) + 1) - 0.5) * PI_KEV
    return counts[(e >= lo) & (e < hi)].sum()


def test_degenerate_rmf_channel_column_maps_by_row_order(tmp_path, caplog):
    from skytext.sources.csc.files import rebin

    c = spectrum_1024()
    pha = archive_pha(tmp_path / "s.pha", c)
    good = rebin(pha, archive_rmf(tmp_path / "ok.rmf"), 64, 0.5, 8.0)[0]
    with caplog.at_level("WARNING"):
        zeros = rebin(pha, archive_rmf(tmp_path / "zero.rmf", channel=np.zeros(1024, np.int32)), 64, 0.5, 8.0)[0]
    assert zeros.sum() == good.sum() == in_band(c) > 2000 and np.array_equal(zeros, good)
    assert "not strictly increasing" in caplog.text and "TLMIN1=1" in caplog.text


def test_grouped_spectrum_uses_good_quality_channels(tmp_path):
    from skytext.sources.csc.files import rebin

    c = spectrum_1024(1)
    quality = np.zeros(1024, np.int16)
    quality[100:140] = 5  # flagged bad (1.46-2.04 keV): excluded as XSPEC/Sherpa would
    grouping = np.where(np.arange(1024) % 4 == 0, 1, -1).astype(np.int16)
    pha = archive_pha(tmp_path / "g.pha", c, quality=quality, grouping=grouping)
    out, exposure = rebin(pha, archive_rmf(tmp_path / "r.rmf"), 64, 0.5, 8.0)
    assert out.sum() == in_band(np.where(quality == 0, c, 0)) and exposure == 9876.5
    assert c[100:140].sum() > 0


@pytest.mark.parametrize("header,type2,reason", [({"INSTRUME": "HRC-I"}, 0, "not_acis_imaging"),
                                                 ({"GRATING": "HETG"}, 0, "not_acis_imaging"),
                                                 ({"GRATING": "HETG", "HDUCLAS4": "TYPE:II"}, 12, "type_ii_pha")])
def test_hrc_and_grating_files_are_refused_with_a_reason(tmp_path, header, type2, reason):
    from skytext.sources.csc.files import rebin

    pha = archive_pha(tmp_path / "x.pha", spectrum_1024(2), header, type2_rows=type2)
    with pytest.raises(PHAError) as err:
        rebin(pha, archive_rmf(tmp_path / "r.rmf"), 64, 0.5, 8.0)
    assert err.value.reason == reason


def test_channel_rows_must_agree_with_detchans_on_the_csc_path(tmp_path):
    from skytext.sources.csc.files import rebin

    pha = archive_pha(tmp_path / "d.pha", spectrum_1024(3), {"DETCHANS": 1000})
    with pytest.raises(PHAError) as err:
        rebin(pha, archive_rmf(tmp_path / "r.rmf"), 64, 0.5, 8.0)
    assert err.value.reason == "wrong_channels" and "DETCHANS" in err.value.detail


def test_demo_gate_rebins_a_valid_acis_pi_spectrum_like_the_csc_path(tmp_path):
    from skytext.sources.csc.files import rebin
    from skytext.spectra.dataset import load_spectra

    c = spectrum_1024(4)
    pha = archive_pha(tmp_path / "a.pha", c)
    empty = archive_pha(tmp_path / "e.pha", np.zeros(1024, int))
    odd = tmp_path / "o.pha"
    write_pha(odd, np.ones(69, int), 1.0)  # neither the grid nor an ACIS PI spectrum
    obs = pd.DataFrame({"obs_id": ["a", "e", "o"], "path": [str(pha), str(empty), str(odd)]})
    kept, counts, rejects = load_spectra(obs, 64, (0.5, 8.0))
    assert list(kept["obs_id"]) == ["a"]
    assert np.array_equal(counts[0], rebin(pha, archive_rmf(tmp_path / "r.rmf"), 64, 0.5, 8.0)[0])
    assert {r["record_id"]: r["reason"] for r in rejects} == {"e": "no_counts", "o": "wrong_channels"}
