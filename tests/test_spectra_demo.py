"""The demo X-ray sky: checkable physics, ground truth, papers and planted bad input."""

import numpy as np
import pytest

from skytext.core.config import defaults
from skytext.sources import xray_demo as X
from skytext.sources import xray_papers as XP
from skytext.sources.ogip import load_response
from conftest import ROOT


@pytest.fixture(scope="module")
def sky():
    cfg = {**defaults("spectra.demo"), "n_sources": 300, "outlier_fraction": 0.03}
    resp = load_response(ROOT / "resources" / "spectra", defaults("spectra")["n_channels"])
    return cfg, resp, X.simulate(cfg, 3, resp)


def _mean_energy(resp, e):
    return float((resp.ch_mid * e).sum() / e.sum())


def test_catalogue_contract(sky):
    cfg, resp, s = sky
    cat = s.catalog
    assert cat["true_class"].nunique() >= 8 and cat["source_id"].is_unique
    assert set(X.VARIABLES) - {"hard_hm", "hard_ms", "src_cnts_aper_b", "significance"} <= set(cat.columns)
    assert cat["is_outlier"].sum() == round(cfg["outlier_fraction"] * cfg["n_sources"])
    assert set(cat.loc[cat["is_outlier"], "outlier_type"]) <= set(X.OUTLIER_TYPES)
    # NaN where not meaningful: temperatures only for their classes
    assert cat.loc[cat["true_class"] == "agn", "apec_kt"].isna().all()
    assert cat.loc[cat["true_class"] == "cluster", "brems_kt"].between(2, 10).all()
    assert np.allclose(s.expected.sum(1), cat["expected_counts"], rtol=1e-6)
    assert (cat["expected_counts"] < 100).mean() > 0.15  # many faint sources


def test_physics_is_checkable(sky):
    _, resp, s = sky
    cat = s.catalog
    cl = cat.index[(cat["true_class"] == "cluster") & (cat["expected_counts"] > 0)][0]
    p = cat.loc[cl].to_dict()
    p["fe_line_eqw"] = 2.0
    line = X.photon_model(resp.e_mid, p) - X.photon_model(resp.e_mid, {**p, "fe_line_eqw": 0.0})
    assert abs(resp.e_mid[np.argmax(line)] - 6.7 / (1 + p["redshift"])) < 0.05
    # absorption removes soft photons: the same AGN with more N_H has a higher mean energy
    a = cat.loc[cat["true_class"] == "agn"].iloc[0].to_dict()
    soft, hard = (resp.fold(X.photon_model(resp.e_mid, {**a, "powlaw_nh": nh})) for nh in (20.0, 23.0))
    assert _mean_energy(resp, hard) > _mean_energy(resp, soft) + 0.5
    # coronal stars are softer than hard-state binaries on average
    me = {c: np.mean([_mean_energy(resp, s.expected[i]) for i in np.flatnonzero(cat["true_class"] == c)])
          for c in ("star", "xrb_hard")}
    assert me["star"] < me["xrb_hard"] - 1.0


def test_observe_is_seeded_and_poisson(sky):
    _, resp, s = sky
    a, b = X.observe(s, 5, 3), X.observe(s, 5, 3)
    assert np.array_equal(a, b) and a.dtype.kind == "i"
    m = X.measured(a.astype(float), s.background, resp)
    assert -1 <= m["hard_hm"] <= 1 and -1 <= m["hard_ms"] <= 1


def test_papers_link_and_mention(sky):
    cfg, _, s = sky
    papers, links = XP.papers(s.catalog, cfg, 3)
    assert papers["text_id"].is_unique and links["text_id"].isin(papers["text_id"]).all()
    per_text = links.groupby("text_id").size()
    assert per_text.max() >= 5  # population papers
    linked = set(links["source_id"])
    assert s.catalog.loc[s.catalog["is_outlier"], "source_id"].isin(linked).all()
    assert 0 < (~s.catalog["source_id"].isin(linked)).sum() < len(s.catalog) * 0.3  # some sources without papers
    pul = s.catalog[s.catalog["outlier_type"] == "pulsating_ulx"]["source_id"]
    if len(pul):
        tid = links.loc[links["source_id"] == pul.iloc[0], "text_id"].iloc[0]
        assert "pulsat" in papers.set_index("text_id").loc[tid, "abstract"]


def test_corrupt_plan_and_empty_paper(sky, tmp_path):
    cfg, resp, s = sky
    plan = X.corrupt_plan(s.catalog, 4)
    assert sorted(plan.values()) == sorted(X.CORRUPTIONS)
    papers, links = XP.papers(s.catalog, cfg, 3)
    p2, l2 = X.add_empty_paper(papers, links, s.catalog, 3)
    assert len(p2) == len(papers) + 1 and (p2["abstract"] == "").sum() == 1


def test_papers_module_names_the_sky_classes_in_order():
    """xray_papers picks population classes from its NAMES (it does not import xray_demo: no import cycle);
    the draw is the sky's only when both list the classes in the same order."""
    assert list(XP.NAMES) == list(X.CLASSES) and set(XP.PHYSICS) == set(X.CLASSES)
