"""Source csc of the spectra study against a loopback replay of the CSC TAP, file service, SIMBAD and ADS,
with injected faults: no record lost, a rerun fetches nothing, the ADS token never written anywhere."""

import copy
import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, run_snakemake
from fakes.csc_replay import CSCReplay
from skytext.core.config import defaults
from skytext.core.smk import log_to
from skytext.sources import csc as C
from skytext.spectra.dataset import build_spectra_dataset
from skytext.spectra.pha import read_pha

TOKEN = "tok-5f3a9c-NEVER-LOG-ME"
E_RANGE = (0.5, 8.0)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("SKYTEXT_TEST_ADS", TOKEN)
    srv = CSCReplay(TOKEN).start()
    yield srv
    srv.stop()


def _cfg(srv, **query):
    cfg = defaults("spectra.csc")
    cfg.update(tap_url=f"{srv.url}/csc", simbad_tap_url=f"{srv.url}/simbad", ads_url=f"{srv.url}/ads/v1",
               ads_token_env="SKYTEXT_TEST_ADS", ads_batch=3,
               files_url=f"{srv.url}/files/retrieveFile?version=rel2.1&filetype={{filetype}}3&filename={{name}}_{{filetype}}3.fits")
    cfg["query"].update(radius_deg=0.1, **query)
    cfg["download"].update(timeout_s=1.0, retries=3, backoff_s=0.01, backoff_max_s=0.05, workers=2)
    return cfg


def _run_all(cfg, tmp, n_shards=2):
    cat, cat_rej = C.fetch_catalog(cfg)
    outs = [C.acquire_shard(cat, cfg, s, n_shards, tmp / "raw", tmp / f"spec/{s}", 64, E_RANGE) for s in range(n_shards)]
    return cat, cat_rej, outs


def test_build_adql_cone_and_names():
    cfg = defaults("spectra.csc")
    q = C.build_adql(cfg)
    assert q.startswith("SELECT TOP 2000 name, ra, dec, significance") and "dec BETWEEN" in q and "CIRCLE" not in q
    cfg["query"].update(mode="names", names=["2CXO J1", "O'Brien"])
    assert "name IN ('2CXO J1', 'O''Brien')" in C.build_adql(cfg)
    cfg["query"]["names"] = []
    with pytest.raises(ValueError, match="names is empty"):
        C.build_adql(cfg)


def test_faults_no_record_lost_rerun_fetches_nothing_token_never_written(server, tmp_path, caplog):
    cfg = _cfg(server)
    names = {r["name"]: r for r in server.catalog}
    first, second, third = "2CXO J004244.3+411608", "2CXO J004240.1+411520", "2CXO J004250.5+411700"
    server.faults.update({
        "csc": ["503", "429", "truncate"],  # TAP: 5xx, rate limit with Retry-After, cut VOTable
        "simbad": ["500", "drop"],
        "ads": ["429", "slow"],  # slow -> client timeout (1 s) -> retried
        f"{first}_pha3.fits": ["truncate", "cutfits"],  # recovers on the 3rd try
        f"{second}_rmf3.fits": ["always:cutfits"],  # stays a truncated FITS -> reject
        f"{third}_arf3.fits": ["slow", "503"],
    })
    server.slow_s = 2.5
    caplog.set_level(logging.DEBUG)
    with log_to(str(tmp_path / "logs" / "run.log")):
        cat, cat_rej, outs = _run_all(cfg, tmp_path)
    assert server.counts["csc"] == 4 and len(cat_rej) == 0
    # the cone: 8 fixture sources inside; the box-only and far ones are not requested
    assert len(cat) == 8 and cat["source_id"].is_unique and "etc" in set(cat["source_id"])  # '../' sanitised away
    obs = pd.concat([o[0] for o in outs], ignore_index=True)
    rej = pd.concat([o[1] for o in outs], ignore_index=True)
    spectra_rej = rej[rej["record_type"] == "spectrum"]
    assert set(obs["obs_id"]) | set(spectra_rej["record_id"]) == set(cat["source_id"])  # 0 records lost
    assert not set(obs["obs_id"]) & set(spectra_rej["record_id"])
    assert spectra_rej.set_index("record_id").loc[C.safe_name(second), "reason"] == "truncated_fits"
    assert C.safe_name(first) in set(obs["obs_id"]) and C.safe_name(third) in set(obs["obs_id"])
    for p in obs["path"]:  # every stored spectrum passes the dataset's gate on the demo channel grid
        counts, exposure = read_pha(p, 64)
        assert counts.sum() > 0 and exposure > 0
    # rebinning keeps the counts in 0.5-8 keV (independent count from the raw PHA)
    r0 = obs.iloc[0]
    raw, _ = read_pha(r0["raw_pha_path"])
    e = (np.arange(1, 1025) - 0.5) * 0.0146
    assert read_pha(r0["path"], 64)[0].sum() == raw[(e >= 0.5) & (e < 8.0)].sum()
    # papers: each link points at a kept source; the bibcode ADS lacks comes with an empty abstract
    papers, links = C.gather_papers([o[2] for o in outs], [o[3] for o in outs])
    assert set(links["source_id"]) <= set(obs["obs_id"]) and set(links["text_id"]) == set(papers["text_id"])
    n_src = links["text_id"].value_counts()
    assert (papers.set_index("text_id")["kind"] == np.where(n_src.reindex(papers["text_id"]) > 1, "population",
                                                            "individual")).all()
    assert papers.set_index("text_id").loc["2017ApJ...840...10F", "abstract"] == ""
    # the dataset: every catalogue source is a dataset source or a reject; the empty paper a no_abstract reject
    tables, counts, summary = build_spectra_dataset([o[0] for o in outs], [o[1] for o in outs] + [cat_rej], cat, papers,
                                                    links, ["powlaw_gamma", "powlaw_nh", "flux_aper_b"],
                                                    defaults("spectra.dataset"), 64, 0)
    assert set(tables["sources"]["source_id"]) | set(tables["rejects"].query("record_type == 'spectrum'")["record_id"]) \
        == set(cat["source_id"])
    assert "no_abstract" in set(tables["rejects"]["reason"]) and counts.shape == (len(tables["sources"]), 64)
    assert np.allclose(tables["sources"].set_index("source_id").loc[C.safe_name(first), "powlaw_nh"],
                       np.log10(names[first]["powlaw_nh"] * 1e20))
    # rerun: nothing fetched again except the file that stayed broken; SIMBAD/ADS not asked again
    before = server.counts.copy()
    server.faults.clear()
    outs2 = [C.acquire_shard(cat, cfg, s, 2, tmp_path / "raw", tmp_path / f"spec/{s}", 64, E_RANGE) for s in range(2)]
    new = {k: server.counts[k] - before.get(k, 0) for k in server.counts if server.counts[k] != before.get(k, 0)}
    # only the source whose file stayed broken is worked on again (its file, then its SIMBAD lookup)
    assert new == {f"{second}_rmf3.fits": 1, "simbad": 1} and sum(o[4]["fetched"] for o in outs2) == 1
    obs2 = pd.concat([o[0] for o in outs2], ignore_index=True)
    assert set(obs2["obs_id"]) == set(cat["source_id"])  # the broken file now served whole: recovered
    before = server.counts.copy()  # a third run sends no request at all
    outs3 = [C.acquire_shard(cat, cfg, s, 2, tmp_path / "raw", tmp_path / f"spec/{s}", 64, E_RANGE) for s in range(2)]
    assert server.counts == before and all(o[4]["fetched"] == o[4]["simbad"] == o[4]["ads"] == 0 for o in outs3)
    assert sum(len(o[0]) for o in outs3) == len(cat)
    # the token reached the server, and no file written and no log line holds it
    assert f"Bearer {TOKEN}" in server.tokens_seen
    assert TOKEN not in caplog.text
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes(), p


def test_names_mode_missing_name_and_bad_token(server, tmp_path, monkeypatch):
    wanted = ["2CXO J004244.3+411608", "2CXO J004300.0+411800", "2CXO J999999.9+999999"]
    cfg = _cfg(server, mode="names", names=wanted)
    monkeypatch.setenv("SKYTEXT_TEST_ADS", "wrong-token")
    cat, cat_rej, outs = _run_all(cfg, tmp_path, n_shards=1)
    assert set(cat["name"]) == set(wanted[:2])
    assert cat_rej.set_index("record_id").loc[wanted[2], "reason"] == "not_in_catalog"
    obs, rej, papers, links, _ = outs[0]
    assert len(obs) == 2 and len(papers) == 0 and len(links) == 0
    bibs = {b for r in server.catalog if r["name"] in wanted for b in r["bibcodes"]}
    assert set(rej["reason"]) == {"ads_http_401"} and set(rej["record_id"]) == bibs  # every bibcode accounted for
    monkeypatch.delenv("SKYTEXT_TEST_ADS")
    with pytest.raises(SystemExit, match="SKYTEXT_TEST_ADS"):
        C.acquire_shard(cat, cfg, 0, 1, tmp_path / "raw2", tmp_path / "spec2", 64, E_RANGE)


def test_tap_gives_up_after_retries(server):
    cfg = _cfg(server)
    server.faults["csc"] = ["always:503"]
    with pytest.raises(C.FetchError) as info:
        C.fetch_catalog(cfg)
    assert info.value.reason == "http_503" and server.counts["csc"] == cfg["download"]["retries"] + 1


@pytest.mark.e2e
def test_spectra_dataset_on_source_csc(server, tmp_path):
    wf = copy_workflow(tmp_path)
    csc = _cfg(server)
    csc["download"]["timeout_s"] = 5.0
    conf = {"studies": ["spectra"], "seed": 0, "shards": 2, "spectra": {"source": "csc", "csc": copy.deepcopy(csc)}}
    (wf / "csc.yaml").write_text(yaml.safe_dump(conf))
    server.faults.update({"csc": ["503"], "2CXO J004236.0+411430_pha3.fits": ["truncate"]})
    run_snakemake(wf, "results/spectra/csc/dataset/summary.json", "--configfile", "csc.yaml")
    res = wf / "results" / "spectra" / "csc"
    src = pd.read_parquet(res / "dataset" / "sources.parquet")
    assert len(src) == 8 and src["n_papers"].sum() > 0
    n_files = server.file_requests()
    again = run_snakemake(wf, "results/spectra/csc/dataset/summary.json", "--configfile", "csc.yaml", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr and server.file_requests() == n_files
    for p in wf.rglob("*"):
        if p.is_file() and p.suffix in (".log", ".yaml", ".json", ".parquet", ".tsv", ".txt"):
            assert TOKEN.encode() not in p.read_bytes(), p
