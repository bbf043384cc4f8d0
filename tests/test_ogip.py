"""OGIP PHA I/O and the toy response: every kind of bad file is a PHAError with its reason."""

import numpy as np
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
