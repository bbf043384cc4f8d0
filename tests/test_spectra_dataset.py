"""The spectra dataset: bad PHA and empty papers become rejects with reasons; nothing is silently dropped."""


from skytext.core.config import defaults
from skytext.sources import xray_demo as X
from skytext.sources import xray_papers as XP
from skytext.spectra.dataset import build_spectra_dataset
from skytext.sources.ogip import load_response
from conftest import ROOT


def test_every_record_is_kept_or_rejected(tmp_path):
    cfg = {**defaults("spectra.demo"), "n_sources": 60, "n_corrupt": 4, "population_papers": 3}
    resp = load_response(ROOT / "resources" / "spectra", defaults("spectra")["n_channels"])
    sky = X.simulate(cfg, 1, resp)
    obs = [X.acquire_shard(sky, resp, cfg, 1, s, 2, tmp_path / str(s)) for s in range(2)]
    papers, links = XP.papers(sky.catalog, cfg, 1)
    papers, links = X.add_empty_paper(papers, links, sky.catalog, 1)
    tables, counts, summary = build_spectra_dataset(obs, [], sky.catalog, papers, links, list(X.VARIABLES),
                                    defaults("spectra.dataset"), defaults("spectra")["n_channels"], (0.5, 8.0), 1)
    src, rej = tables["sources"], tables["rejects"]
    assert len(src) + (rej["record_type"] == "spectrum").sum() == 60
    assert set(rej.loc[rej["record_type"] == "spectrum", "reason"]) == set(X.CORRUPTIONS)
    assert "no_abstract" in set(rej["reason"])
    kept_papers = set(tables["papers"]["text_id"])
    rejected_papers = set(rej.loc[rej["record_type"] == "paper", "record_id"])
    assert kept_papers | rejected_papers == set(papers["text_id"]) and not kept_papers & rejected_papers
    assert counts.shape == (len(src), defaults("spectra")["n_channels"]) and (counts.sum(1) > 0).all()
    assert set(src["split"]) == {"train", "val", "test"}
    assert src["source_id"].dtype == "string" and src["is_outlier"].dtype == bool
    assert summary["sources_without_papers"] == int((src["n_papers"] == 0).sum()) > 0
    # measured columns come from the observed counts
    assert src["hard_hm"].between(-1, 1).all() and src["src_cnts_aper_b"].notna().all()
