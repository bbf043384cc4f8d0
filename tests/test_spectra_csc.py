"""Source csc of the spectra study against a loopback replay of the CSC TAP, file service, SIMBAD and ADS,
with injected faults: no record lost, a rerun fetches nothing, the ADS token never written anywhere."""

import copy
import json
import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_workflow, run_snakemake
from fakes.csc_replay import CSCReplay
from skytext.core.config import defaults
from skytext.core.safepath import safe_name
from skytext.core.smk import log_to
from skytext.sources.csc import catalog as C
from skytext.sources.csc.files import check_fits, rebin, usable
from skytext.sources.csc.papers import gather_papers, otype_class
from skytext.sources.csc.shard import acquire_shard
from skytext.sources.download import FetchError
from skytext.spectra.dataset import build_spectra_dataset
from skytext.sources.ogip import read_pha

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
               ads_token_env="SKYTEXT_TEST_ADS", ads_batch=3)
    cfg["files"].update(browse_url=f"{srv.url}/csccli/browse", retrieve_url=f"{srv.url}/csccli/retrieveFile")
    cfg["observations"]["names_per_query"] = 3
    cfg["query"].update(radius_deg=0.1, **query)
    cfg["download"].update(timeout_s=1.0, retries=3, backoff_s=0.01, backoff_max_s=0.05, workers=2)
    return cfg


CLASS_MAP = yaml.safe_load((ROOT / "resources" / "spectra" / "simbad_otypes.yaml").read_text())


def _shards(cat, cfg, tmp, n_shards=2, raw="raw", spec="spec"):
    return [acquire_shard(cat, cfg, s, n_shards, tmp / raw, tmp / f"{spec}/{s}", 64, E_RANGE, CLASS_MAP)
            for s in range(n_shards)]


def _run_all(cfg, tmp, n_shards=2):
    cat, cat_rej = C.fetch_catalog(cfg)
    return cat, cat_rej, _shards(cat, cfg, tmp, n_shards)


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
    third_pkg = "{obsid}.{obi}.{region_id}/spectrum/".format(**names[third]["observations"][0])
    server.faults.update({
        "csc": ["503", "429", "truncate"],  # TAP: 5xx, rate limit with Retry-After, cut VOTable
        "csc_obs": ["500"],
        "simbad": ["500", "drop"],
        "ads": ["429", "slow"],  # slow -> client timeout (1 s) -> retried
        f"browse:{third_pkg}": ["503", "drop"],
        server.file_of(first, "pha"): ["truncate", "cutfits"],  # recovers on the 3rd try
        server.file_of(second, "rmf"): ["always:cutfits"],  # stays a broken FITS -> reject
        server.file_of(third, "arf"): ["slow", "503"],
    })
    server.slow_s = 2.5
    caplog.set_level(logging.DEBUG)
    with log_to(str(tmp_path / "logs" / "run.log")):
        cat, cat_rej, outs = _run_all(cfg, tmp_path)
    assert server.counts["csc"] == 4 and len(cat_rej) == 0
    # the cone: 11 fixture sources inside; the box-only and far ones are not requested
    assert len(cat) == 11 and cat["source_id"].is_unique and "etc" in set(cat["source_id"])  # '../' sanitised away
    obs = pd.concat([o[0] for o in outs], ignore_index=True)
    rej = pd.concat([o[1] for o in outs], ignore_index=True)
    spectra_rej = rej[rej["record_type"] == "spectrum"]
    assert set(obs["obs_id"]) | set(spectra_rej["record_id"]) == set(cat["source_id"])  # 0 records lost
    assert not set(obs["obs_id"]) & set(spectra_rej["record_id"])
    why = spectra_rej.set_index("record_id")["reason"]
    assert why[safe_name(second)] == "truncated_fits"
    assert {why[safe_name(n)] for n in ("2CXO J004246.0+411700", "2CXO J004241.0+411630", "2CXO J004248.0+411500")} \
        == {"hrc_only", "ambiguous_only", "no_observation"}
    assert safe_name(first) in set(obs["obs_id"]) and safe_name(third) in set(obs["obs_id"])
    for p in obs["path"]:  # every stored spectrum passes the dataset's gate on the demo channel grid
        counts, exposure = read_pha(p, 64)
        assert counts.sum() > 0 and exposure > 0
    # the brightest unique ACIS detection gives the spectrum (the HRC one with more counts has no PHA)
    r0 = obs.set_index("obs_id").loc[safe_name(first)]
    assert r0["csc_observations"] == "1575.0.12" and r0["n_observations"] == 1
    # rebinning keeps the counts in 0.5-8 keV (independent count from the raw PHA)
    raw, _ = read_pha(r0["raw_pha_path"], None)
    e = (np.arange(1, 1025) - 0.5) * 0.0146
    assert read_pha(r0["path"], 64)[0].sum() == raw[(e >= 0.5) & (e < 8.0)].sum()
    # papers: each link points at a kept source; the bibcode ADS lacks comes with an empty abstract
    papers, links = gather_papers([o[2] for o in outs], [o[3] for o in outs])
    assert set(links["source_id"]) <= set(obs["obs_id"]) and set(links["text_id"]) == set(papers["text_id"])
    n_src = links["text_id"].value_counts()
    assert (papers.set_index("text_id")["kind"] == np.where(n_src.reindex(papers["text_id"]) > 1, "population",
                                                            "individual")).all()
    assert papers.set_index("text_id").loc["2017ApJ...840...10F", "abstract"] == ""
    # the dataset: every catalogue source is a dataset source or a reject; the empty paper a no_abstract reject
    tables, counts, summary = build_spectra_dataset([o[0] for o in outs], [o[1] for o in outs] + [cat_rej], cat, papers,
                                                    links, ["powlaw_gamma", "powlaw_nh", "flux_aper_b"],
                                                    defaults("spectra.dataset"), 64, E_RANGE, 0)
    src = tables["sources"].set_index("source_id")
    assert set(src.index) | set(tables["rejects"].query("record_type == 'spectrum'")["record_id"]) == set(cat["source_id"])
    assert "no_abstract" in set(tables["rejects"]["reason"]) and counts.shape == (len(src), 64)
    assert np.allclose(src.loc[safe_name(first), "powlaw_nh"], np.log10(names[first]["powlaw_nh"] * 1e20))
    # the class comes from the nearest SIMBAD object's otype (HXB -> xrb); unmapped or no object -> unknown
    assert src.loc[safe_name(first), "class"] == "xrb" and src.loc[safe_name(third), "class"] == "cv"
    assert src.loc[safe_name("2CXO J004255.0+412000"), "class"] == "unknown"  # otype 'WeirdType'
    # rerun: the file that stayed broken is noted, not asked again; the source stays a reject with its reason
    before = server.counts.copy()
    server.faults.clear()
    outs2 = _shards(cat, cfg, tmp_path)
    assert server.counts == before and sum(o[4]["fetched"] for o in outs2) == 0
    rej2 = pd.concat([o[1] for o in outs2], ignore_index=True).set_index("record_id")
    assert rej2.loc[safe_name(second), "reason"] == "truncated_fits"
    # deleting the note asks again: only that file, then the source's SIMBAD lookup
    note = tmp_path / "raw" / safe_name(second) / "{obsid:05d}_{obi:03d}_r{region_id:04d}".format(
        **names[second]["observations"][0]) / "unusable.json"
    assert json.loads(note.read_text())["reason"] == "truncated_fits"
    note.unlink()
    outs2 = _shards(cat, cfg, tmp_path)
    new = {k: server.counts[k] - before.get(k, 0) for k in server.counts if server.counts[k] != before.get(k, 0)}
    rmf_pkg = "{obsid}.{obi}.{region_id}/rmf/".format(**names[second]["observations"][0])
    assert new == {f"browse:{rmf_pkg}": 1, server.file_of(second, "rmf"): 1, "simbad": 1}
    assert sum(o[4]["fetched"] for o in outs2) == 1
    obs2 = pd.concat([o[0] for o in outs2], ignore_index=True)
    assert len(obs2) == 8 and safe_name(second) in set(obs2["obs_id"])  # the broken file now served whole
    before = server.counts.copy()  # a third run sends no request at all
    outs3 = _shards(cat, cfg, tmp_path)
    assert server.counts == before and all(o[4]["fetched"] == o[4]["simbad"] == o[4]["ads"] == 0 for o in outs3)
    assert sum(len(o[0]) for o in outs3) == 8
    # the token reached the server, and no file written and no log line holds it
    assert f"Bearer {TOKEN}" in server.tokens_seen
    assert TOKEN not in caplog.text
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes(), p


def test_observations_summed_next_tried_and_rules(server, tmp_path):
    """max_per_source 2 sums the two brightest unique ACIS spectra; an observation whose file the archive
    lacks is skipped for the next; match_types [u, a] admits the ambiguous-only source."""
    cfg = _cfg(server, mode="names", names=["2CXO J004244.3+411608", "2CXO J004241.0+411630"])
    cfg["observations"].update(max_per_source=2, match_types=["u", "a"])
    cat, _ = C.fetch_catalog(cfg)
    obs, rej, *_ = _shards(cat, cfg, tmp_path, n_shards=1)[0]
    row = obs.set_index("target").loc["2CXO J004244.3+411608"]
    assert row["csc_observations"] == "1575.0.12;2022.0.12" and row["n_observations"] == 2
    parts = [rebin(tmp_path / "raw" / row["obs_id"] / t / "pha.fits", tmp_path / "raw" / row["obs_id"] / t / "rmf.fits",
                     64, *E_RANGE) for t in ("01575_000_r0012", "02022_000_r0012")]
    counts, exposure = read_pha(row["path"], 64)
    assert np.array_equal(counts, parts[0][0] + parts[1][0]) and exposure == pytest.approx(parts[0][1] + parts[1][1])
    assert "2CXO J004241.0+411630" in set(obs["target"]) and len(rej) == 0
    # the brightest observation's spectrum missing from the archive: the next one is used, and a rerun does
    # not ask for the missing one again
    server.packages.pop("1575.0.12/spectrum/")
    one = {**cfg, "observations": {**cfg["observations"], "max_per_source": 1}}
    obs2, *_ = _shards(cat, one, tmp_path, 1, raw="raw2", spec="spec2")[0]
    assert obs2.set_index("target").loc["2CXO J004244.3+411608", "csc_observations"] == "2022.0.12"
    before = server.counts.copy()
    obs3, *_ = _shards(cat, one, tmp_path, 1, raw="raw2", spec="spec2")[0]
    assert server.counts == before and obs3["csc_observations"].tolist() == obs2["csc_observations"].tolist()
    # a transient failure that outlasts the retries stops the source (no note, the next one is not tried)
    server.faults[server.file_of("2CXO J004244.3+411608", "pha", 1)] = ["always:503"]
    obs4, rej4, *_ = _shards(cat, one, tmp_path, 1, raw="raw3", spec="spec3")[0]
    assert rej4.set_index("record_id").loc[obs2.set_index("target").loc["2CXO J004244.3+411608", "obs_id"], "reason"] \
        == "http_503" and "2CXO J004244.3+411608" not in set(obs4["target"])
    assert [p.parent.name for p in (tmp_path / "raw3").rglob("unusable.json")] == ["01575_000_r0012"]


def test_failed_or_cut_answers_are_rejects_never_cached(server, tmp_path):
    """An observation lookup that fails after its retries rejects its batch (nothing cached, a rerun asks
    again); an answer the TAP service cuts at its row limit (QUERY_STATUS OVERFLOW) is never used."""
    cfg = _cfg(server)
    cat, _ = C.fetch_catalog(cfg)
    server.faults["csc_obs"] = ["always:500"]
    outs = _shards(cat, cfg, tmp_path)
    rej = pd.concat([o[1] for o in outs], ignore_index=True)
    assert sum(len(o[0]) for o in outs) == 0 and set(rej["reason"]) == {"observations_http_500"}
    assert set(rej["record_id"]) == set(cat["source_id"]) and not list((tmp_path / "raw").rglob("observations.json"))
    server.faults["csc_obs"] = ["overflow"]
    outs = _shards(cat, cfg, tmp_path, n_shards=1)
    rej = outs[0][1]
    assert (rej["reason"] == "observations_overflow").sum() == 3  # the first batch of names_per_query = 3
    server.faults.clear()
    server.faults["simbad"] = ["always:overflow"]
    outs = _shards(cat, cfg, tmp_path, n_shards=1, raw="raw_s", spec="spec_s")
    assert len(outs[0][0]) == 8 and len(outs[0][3]) == 0
    assert set(outs[0][1].query("record_type == 'links'")["reason"]) == {"simbad_overflow"}
    assert not list((tmp_path / "raw_s").rglob("simbad.json"))


def test_usable_observations_and_otype_classes():

    cfg = defaults("spectra.csc.observations")
    acis = {"instrument": "ACIS", "match_type": "u", "obsid": 5, "obi": 0, "region_id": 1}
    rows = [{**acis, "src_cnts": 10.0}, {**acis, "obsid": 4, "src_cnts": 10.0}, {**acis, "obsid": 9, "src_cnts": 50.0},
            {**acis, "instrument": "HRC", "src_cnts": 900.0}, {**acis, "match_type": "a", "src_cnts": 99.0}]
    got, reason, _ = usable(rows, cfg)
    assert [r["obsid"] for r in got] == [9, 4, 5] and reason == ""
    assert usable([], cfg)[1] == "no_observation" and usable(rows[3:4], cfg)[1] == "hrc_only"
    assert usable(rows[4:], cfg)[1] == "ambiguous_only"
    assert otype_class("Sy1", CLASS_MAP) == "agn" and otype_class("HMXB", CLASS_MAP) == "xrb"
    assert otype_class("CV*", CLASS_MAP) == "cv" and otype_class("", CLASS_MAP) == "unknown"


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
        _shards(cat, cfg, tmp_path, 1, raw="raw2", spec="spec2")


def test_tap_gives_up_after_retries(server):
    cfg = _cfg(server)
    server.faults["csc"] = ["always:503"]
    with pytest.raises(FetchError) as info:
        C.fetch_catalog(cfg)
    assert info.value.reason == "http_503" and server.counts["csc"] == cfg["download"]["retries"] + 1


@pytest.mark.e2e
def test_spectra_dataset_on_source_csc(server, tmp_path):
    wf = copy_workflow(tmp_path)
    csc = _cfg(server)
    csc["download"]["timeout_s"] = 5.0
    conf = {"studies": ["spectra"], "seed": 0, "shards": 2, "spectra": {"source": "csc", "csc": copy.deepcopy(csc)}}
    (wf / "csc.yaml").write_text(yaml.safe_dump(conf))
    server.faults.update({"csc": ["503"], server.file_of("2CXO J004236.0+411430", "pha"): ["truncate"]})
    run_snakemake(wf, "results/spectra/csc/dataset/summary.json", "--configfile", "csc.yaml")
    res = wf / "results" / "spectra" / "csc"
    src = pd.read_parquet(res / "dataset" / "sources.parquet")
    assert len(src) == 8 and src["n_papers"].sum() > 0
    again = run_snakemake(wf, "results/spectra/csc/dataset/summary.json", "--configfile", "csc.yaml", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    for p in wf.rglob("*"):
        if p.is_file() and p.suffix in (".log", ".yaml", ".json", ".parquet", ".tsv", ".txt"):
            assert TOKEN.encode() not in p.read_bytes(), p


@pytest.mark.e2e
def test_spectra_study_on_source_csc(tmp_path, monkeypatch):
    """The whole spectra study on a CSC-shaped sky (the demo physics served in the archive's formats): every
    source kept or rejected, spectra identical to the simulated ones after the archive round trip, classes
    from SIMBAD otypes, the per-observation columns as variables, no oracle row (real data has no truth)."""
    from fakes.csc_sky import write_sky

    truth = write_sky(tmp_path / "sky", 200, 0, 150.1, 2.2, 0.25)
    monkeypatch.setenv("SKYTEXT_TEST_ADS", TOKEN)
    srv = CSCReplay(TOKEN, tmp_path / "sky").start()
    try:
        (tmp_path / "wf").mkdir()
        wf = copy_workflow(tmp_path / "wf")
        conf = yaml.safe_load((wf / "tests" / "configs" / "spectra-micro.yaml").read_text())
        csc = _cfg(srv)
        csc["query"].update(ra=150.1, dec=2.2, radius_deg=0.25, min_significance=0.0)
        conf["spectra"].pop("demo")
        conf["spectra"].update(source="csc", csc=csc)
        (wf / "csc.yaml").write_text(yaml.safe_dump(conf))
        first = srv.file_of(next(iter(truth)), "pha")
        srv.faults.update({"csc_obs": ["503"], "simbad": ["429"], first: ["truncate"]})
        run_snakemake(wf, "spectra", "--configfile", "csc.yaml", timeout=3600)  # measured ~15 min on 2 busy cores
    finally:
        srv.stop()
    res = wf / "results" / "spectra" / "csc"
    src = pd.read_parquet(res / "dataset" / "sources.parquet").set_index("name")
    rej = pd.read_parquet(res / "dataset" / "rejects.parquet")
    assert len(src) + (rej["record_type"] == "spectrum").sum() == len(truth) == 200
    counts = np.load(res / "dataset" / "counts.npy")
    order = pd.read_parquet(res / "dataset" / "sources.parquet")["name"]
    assert all(np.array_equal(counts[i], truth[n]["counts"]) for i, n in enumerate(order))  # exact round trip
    # SIMBAD's answer joins the references: an object without papers comes back without its otype
    want = {n: otype_class(t["otype"], CLASS_MAP) if t["n_papers"] else "unknown" for n, t in truth.items()}
    assert (src["class"] == pd.Series(want).loc[src.index]).all()
    assert {"xrb", "agn", "unknown"} <= set(src["class"])
    same = {"agn": "agn", "xrb_hard": "xrb", "xrb_soft": "xrb"}
    assert all(same.get(truth[n]["class"], c) == c for n, c in src["class"].items() if c in ("agn", "xrb"))
    reg = json.loads((res / "eval" / "regression.json").read_text())
    assert {"src_cnts_aper_b", "var_index_b", "powlaw_gamma", "hard_hm"} <= set(reg["variables"])
    # the variables are the ones the csc source wrote (its catalogue columns), not the demo's list
    written = json.loads((res / "acquire" / "variables.json").read_text())["variables"]
    assert set(reg["variables"]) <= set(written) and "var_inter_index_b" in written and "diskbb_kt" not in written
    retr = json.loads((res / "eval" / "retrieval.json").read_text())
    assert {"ensemble", "shuffled", "random"} <= set(retr["results"]) and "oracle" not in retr["results"]
    assert (res / "eval" / "umap.png").stat().st_size > 0 and (res / "eval" / "outliers.csv").exists()
    for p in wf.rglob("*"):
        if p.is_file() and p.suffix in (".log", ".yaml", ".json", ".parquet", ".tsv", ".txt", ".csv"):
            assert TOKEN.encode() not in p.read_bytes(), p


def test_fetch_bytes_with_content_encoding_and_gzip_fits():
    """A server that gzips on the wire (Content-Encoding: gzip, Content-Length of the encoded bytes) is not
    mistaken for a truncated answer; a gzip file whose FITS is cut is a retryable truncated_fits."""
    import gzip

    import requests

    from fakes.loopback import LoopbackServer, ReplayHandler
    from skytext.sources.download import fetch_bytes

    fits_bytes = b"SIMPLE  =                    T" + b" " * (2880 - 30)

    class H(ReplayHandler):
        def do_GET(self):
            body = gzip.compress(fits_bytes)
            if self.path == "/cut":
                self.close_connection = True
                return self._send(body[: len(body) // 2], "application/fits", headers={"Content-Encoding": "gzip"},
                                  length=len(body))
            self._send(body, "application/fits", headers={"Content-Encoding": "gzip"})

    srv = LoopbackServer(H).start()
    try:
        with requests.Session() as s:
            assert fetch_bytes(s, f"{srv.url}/ok", 5.0) == fits_bytes
            with pytest.raises((FetchError, requests.RequestException)):
                fetch_bytes(s, f"{srv.url}/cut", 5.0)
    finally:
        srv.stop()
    with pytest.raises(FetchError) as info:
        check_fits(gzip.compress(fits_bytes[:1000]), "x.fits")
    assert info.value.reason == "truncated_fits" and info.value.retryable
    with pytest.raises(FetchError) as info:
        check_fits(gzip.compress(fits_bytes)[:40], "x.fits")
    assert info.value.reason == "truncated_gzip"


def test_clean_partials_spares_files_another_shard_is_writing(tmp_path):
    """Shard jobs share raw/: a job's clean-up removes what killed jobs left, never a live job's temporary file."""
    import subprocess
    import sys

    from skytext.sources.download import clean_partials

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        (tmp_path / "a").mkdir()
        keep = tmp_path / "a" / f".pha.fits.part-{live.pid}-1"
        gone = tmp_path / "a" / f".pha.fits.part-{dead.pid}-1"
        for p in (keep, gone):
            p.write_bytes(b"x")
        clean_partials(tmp_path, recursive=True)
        assert keep.exists() and not gone.exists()
    finally:
        live.kill()
