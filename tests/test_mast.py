"""HST acquisition against a MAST replay server on 127.0.0.1: discovery, sharded downloads, faults, resume.

The real astroquery client and the real requests stack talk HTTP to ``tests/fakes/mast_replay.py``.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from fakes.mast_replay import DATA, ReplayServer
from skytext.sources.abstracts import parse_abstracts
from skytext.core.contracts import OBSERVATIONS, REJECTS, conform, read_table
from skytext.sources.download import DownloadPolicy, download_shard, fetch_text, run_shard, settings_from_config
from skytext.sources.mast import ProductRules, build_plan, sample_per_proposal, select_products
from skytext.core.sharding import shard_of

ABSTRACTS = Path(__file__).parent / "data" / "abstracts" / "abstracts.cat"
SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
HST_SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "sections" / "hst.schema.yaml"
SIZE = 48


@pytest.fixture
def server():
    s = ReplayServer(abstracts=ABSTRACTS).start()
    s.slow_s = 1.5
    yield s
    s.stop()


@pytest.fixture(scope="module")
def proposals():
    return parse_abstracts(ABSTRACTS.read_bytes()).proposals


def _defaults(schema: dict):
    """The value a JSON schema gives an absent key: its ``default``, objects filled in recursively."""
    value = copy.deepcopy(schema.get("default"))
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in value and "default" in sub:
                value[key] = _defaults(sub)
    return value


def _hst_defaults() -> dict:
    """The complete default config section ``hst``, read from its schema (the only home of defaults)."""
    schema = yaml.safe_load(HST_SCHEMA.read_text())
    return _defaults({**schema, "default": {}})


def hst_config(url: str, **over) -> dict:
    """A complete ``hst`` section: the schema's defaults, then the test's settings, then ``over``."""
    cfg = _hst_defaults()
    cfg.update({
        "mast_url": url,
        "proposal_ids": ["15354", "5092", "5371"],
        "cycles": [20, 21],  # brings in 13495 from the abstracts catalogue
        "max_images_per_proposal": 3,
        "image_size": SIZE,
        "image_mode": "RGB",
        "exclude_color": True,
        "product_filter": {"product_type": "PREVIEW", "extensions": ["jpg"], "name_contains": ["total"]},
        "fits": False,
        "download": {"workers": 2, "timeout_s": 0.5, "retries": 3, "backoff_s": 0.01, "backoff_max_s": 0.05},
    })
    cfg["product_filter"] = {**_hst_defaults()["product_filter"], **cfg["product_filter"]}
    cfg.update(over)
    return cfg


def fixture_products() -> pd.DataFrame:
    rows = json.loads((DATA / "products.json").read_text())["data"]
    return pd.DataFrame(rows)


def test_discovery_selects_paperclip_previews(server, proposals):
    server.faults["invoke"] = ["503", "drop", "500"]  # a burst the retries must ride out
    plan, rejects = build_plan(hst_config(server.url), proposals, shards=3, seed=7)
    assert server.counts["invoke"] >= 5
    assert plan["obs_id"].is_unique
    assert set(plan["proposal_id"]) == {"13495", "15354"}
    assert (plan.groupby("proposal_id").size() <= 3).all()
    assert not plan["filename"].str.contains("color").any()
    assert plan["filename"].str.contains("total").all()
    # the product named '../../../../tmp/evil/...' keeps its data URI but gets a safe obs_id
    evil = plan[plan["filename"].str.contains(r"\.\./")]
    assert len(evil) == 1 and evil["obs_id"].iloc[0] == "hst_15354_02_wfc3_uvis_total_idi602_drz"
    assert dict(zip(plan["proposal_id"], plan["cycle"])) == {"13495": 21, "15354": 25}
    reasons = dict(zip(rejects["record_id"], rejects["reason"]))
    assert reasons["5371"] == "no_observations"
    assert reasons["U2803E01T"] == "no_matching_preview"  # FITS only
    assert reasons["hst_13495_06_acs_wfc_total_jc8m06"] == "no_matching_preview"  # colour only
    assert reasons["hst_15354_03_wfc3_ir_f160w_idi603"] == "no_matching_preview"  # not a 'total'
    assert sorted(r for r, why in reasons.items() if why == "over_cap") != []
    assert (plan["shard"] == plan["proposal_id"].map(lambda p: str(shard_of(p, 3)))).all()
    # same seed, same draw; the draw is without replacement
    again, _ = build_plan(hst_config(server.url), proposals, shards=3, seed=7)
    pd.testing.assert_frame_equal(plan, again)


def test_sampling_is_without_replacement_and_seeded():
    obs = pd.DataFrame({"obsid": ["1"], "obs_id": ["O1"], "proposal_id": ["42"], "instrument_name": ["ACS/WFC"],
                        "filters": ["F814W"], "target_name": ["T"]})
    names = [f"hst_42_{i:02d}_acs_wfc_total_x{i:02d}_drc.jpg" for i in range(30)]
    prods = pd.DataFrame({"group_obsid": "1", "productFilename": names, "productType": "PREVIEW",
                          "dataURI": [f"mast:HST/product/{n}" for n in names], "size": 10})
    rules = ProductRules.from_config(_hst_defaults())
    picks = {}
    for seed in (0, 1):
        plan, rejects = select_products(obs, prods, rules, 20, seed, 4)
        assert len(plan) == 20 and plan["obs_id"].is_unique
        assert len([r for r in rejects if r["reason"] == "over_cap"]) == 10
        picks[seed] = set(plan["obs_id"])
    assert picks[0] != picks[1]
    # reversing the archive's row order changes nothing
    plan_rev, _ = select_products(obs, prods.iloc[::-1], rules, 20, 0, 4)
    assert set(plan_rev["obs_id"]) == picks[0]


def test_sampling_step_draws_per_proposal_independently_of_other_proposals():
    def rows(pid, n):
        return [{"obs_id": f"p{pid}_{i:02d}", "proposal_id": str(pid), "filename": f"p{pid}_{i:02d}.jpg"}
                for i in range(n)]

    alone, both = [], []
    one = sample_per_proposal(pd.DataFrame(rows(42, 9)), 4, 7, 2, alone)
    two = sample_per_proposal(pd.DataFrame(rows(42, 9) + rows(43, 3)[::-1]), 4, 7, 2, both)
    assert list(one["obs_id"]) == list(two.loc[two["proposal_id"] == "42", "obs_id"])
    assert sorted(two.loc[two["proposal_id"] == "43", "obs_id"]) == ["p43_00", "p43_01", "p43_02"]
    assert len(alone) == len(both) == 5 and {r["reason"] for r in both} == {"over_cap"}


def test_hst_defaults_come_from_the_schema_only():
    """Code indexes the complete section: a missing key is an error, never a second default."""
    full = _hst_defaults()
    settings = settings_from_config(full, "images/0", "q/0")
    assert (settings.image_size, settings.image_mode, settings.workers) == (512, "RGB", 4)
    assert settings.policy == DownloadPolicy(timeout_s=60, retries=5, backoff_s=1.0, backoff_max_s=60,
                                             retry_after_max_s=60)
    assert ProductRules.from_config(full).excludes == ("color",)
    for key in ("image_size", "download"):
        with pytest.raises(KeyError):
            settings_from_config({k: v for k, v in full.items() if k != key}, "images/0", "q/0")
    no_names = {**full, "product_filter": {k: v for k, v in full["product_filter"].items() if k != "name_contains"}}
    with pytest.raises(KeyError):
        ProductRules.from_config(no_names)


def _all_shards(server, proposals, tmp_path, hst, shards=3):
    plan, plan_rejects = build_plan(hst, proposals, shards=shards, seed=7)
    plan.to_parquet(tmp_path / "plan.parquet")
    plan_rejects.to_parquet(tmp_path / "plan_rejects.parquet")
    obs, rej = [], []
    for shard in map(str, range(shards)):
        d = tmp_path / "shards" / shard
        d.mkdir(parents=True, exist_ok=True)
        run_shard(tmp_path / "plan.parquet", tmp_path / "plan_rejects.parquet", shard, hst,
                  f"images/{shard}", f"quarantine/{shard}",
                  d / "observations.parquet", d / "rejects.parquet")
        obs.append(read_table(d / "observations.parquet", OBSERVATIONS))
        rej.append(read_table(d / "rejects.parquet", REJECTS))
    return plan, pd.concat(obs, ignore_index=True), pd.concat(rej, ignore_index=True)


def test_fault_injected_run_loses_nothing_and_rerun_downloads_nothing(server, proposals, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server.faults.update({
        "hst_13495_01_acs_wfc_total_jc8m01_drc.jpg": ["503", "503", "500"],
        "hst_13495_02_acs_wfc_total_jc8m02_drc.jpg": ["drop", "slow"],
        "hst_13495_03_acs_wfc_total_jc8m03_drc.jpg": ["truncate"],
        "hst_13495_04_acs_wfc_total_jc8m04_drc.jpg": ["corrupt"],
        "hst_13495_05_acs_wfc_total_jc8m05_drc.jpg": ["always:corrupt"],
        "hst_15354_04_wfc3_uvis_total_idi604_drz.jpg": ["always:503"],
    })
    hst = hst_config(server.url, max_images_per_proposal=20)
    plan, obs, rej = _all_shards(server, proposals, tmp_path, hst)

    # every fixture observation is accounted for: an image in the manifest, or a reject with a reason
    prods = fixture_products()
    prods["stem"] = prods["productFilename"].str.rsplit("/", n=1).str[-1].str.rsplit(".", n=1).str[0]
    seen = set(obs["obs_id"]) | set(rej["record_id"])
    caom = json.loads((DATA / "observations.json").read_text())["data"]
    requested = {"15354", "5092", "5371", "13495"}  # hst_config's ids and the catalogue's cycle 20-21 proposal
    assert {o["proposal_id"] for o in caom} > requested - {"5371"}
    for o in (o for o in caom if o["proposal_id"] in requested):
        stems = set(prods.loc[prods["obs_id"] == o["obs_id"], "stem"])
        assert o["obs_id"] in seen or stems & seen, f"observation {o['obs_id']} lost"
    assert set(plan["obs_id"]) == set(obs["obs_id"]) | set(rej.loc[rej["record_type"] == "product", "record_id"])
    assert (rej["reason"].str.len() > 0).all() and (rej["detail"].str.len() > 0).all()
    assert not set(obs["obs_id"]) & set(rej["record_id"])

    why = dict(zip(rej["record_id"], rej["reason"]))
    assert why["hst_13495_05_acs_wfc_total_jc8m05_drc"] == "corrupt_image"
    assert why["hst_15354_04_wfc3_uvis_total_idi604_drz"] == "http_503"
    assert len(obs) == 6  # 13495 01-04 recovered after faults, 15354 01 and the sanitised 02
    q = list((tmp_path / "quarantine").rglob("hst_13495_05_acs_wfc_total_jc8m05_drc.jpg*"))
    assert len(q) == 2  # the corrupt body and its .reason note

    for _, r in obs.iterrows():
        p = Path(r["path"])
        assert not p.is_absolute() and p.parts[0] == "images"
        assert p.is_file() and tmp_path / "images" in p.resolve().parents
        with Image.open(p) as img:
            assert max(img.size) == SIZE and img.mode == "RGB"
    assert all(tmp_path in f.resolve().parents for f in tmp_path.rglob("*"))
    assert not list(tmp_path.rglob(".*.part-*"))

    # rerun: nothing new is downloaded except the network failure, which is worth another try
    before = server.counts.copy()
    plan2, obs2, rej2 = _all_shards(server, proposals, tmp_path, hst)
    new = {k: server.counts[k] - before.get(k, 0) for k in server.counts if server.counts[k] != before.get(k, 0)}
    new.pop("invoke", None)
    assert set(new) <= {"hst_15354_04_wfc3_uvis_total_idi604_drz.jpg"}
    pd.testing.assert_frame_equal(obs.sort_values("obs_id").reset_index(drop=True),
                                  obs2.sort_values("obs_id").reset_index(drop=True))
    assert len(rej2) == len(rej)


def test_clean_rerun_makes_zero_download_requests(server, proposals, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hst = hst_config(server.url)
    _, obs, _ = _all_shards(server, proposals, tmp_path, hst)
    first = server.download_count()
    assert first == len(obs) > 0
    _, obs2, _ = _all_shards(server, proposals, tmp_path, hst)
    assert server.download_count() == first and len(obs2) == len(obs)


def test_killed_shard_resumes(server, proposals, tmp_path, monkeypatch):
    hst = hst_config(server.url, max_images_per_proposal=20)
    hst["download"]["workers"] = 1
    plan, plan_rejects = build_plan(hst, proposals, shards=1, seed=7)
    plan.to_parquet(tmp_path / "plan.parquet")
    plan_rejects.to_parquet(tmp_path / "plan_rejects.parquet")
    args = [str(tmp_path / "plan.parquet"), str(tmp_path / "plan_rejects.parquet"), "0", hst,
            "images/0", "quarantine/0", "obs.parquet", "rej.parquet"]
    code = (f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); from skytext.sources.download import run_shard; "
            f"run_shard(*{args!r})")
    server.gate_after = 3  # the 4th download request blocks: the job is killed while it waits
    job = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path)
    try:
        assert server.gate_hit.wait(60), "the shard job never reached the 4th download"
        job.send_signal(signal.SIGKILL)
        job.wait(30)
    finally:
        if job.poll() is None:
            job.kill()
    server.gate_release.set()
    assert job.returncode == -signal.SIGKILL
    done_before = sorted(p.name for p in (tmp_path / "images" / "0").glob("*.jpg"))
    assert len(done_before) == 3 and not (tmp_path / "obs.parquet").exists()

    before = server.counts.copy()
    monkeypatch.chdir(tmp_path)
    stats = run_shard(*args[:3], hst, "images/0", "quarantine/0", "obs.parquet", "rej.parquet")
    assert stats["cached"] == 3 and stats["fetched"] == len(plan) - 3
    for name in done_before:  # the files finished before the kill were not fetched again
        assert server.counts[name] == before[name] == 1
    refetched = [k for k in server.counts if server.counts[k] > before.get(k, 0) and k != "invoke"]
    assert len(refetched) == len(plan) - 3
    obs = read_table(tmp_path / "obs.parquet", OBSERVATIONS)
    assert set(obs["obs_id"]) == set(plan["obs_id"])


def test_abstracts_fetch_retries_over_http(server):
    server.faults["abstracts"] = ["503", "drop"]
    body = fetch_text(f"{server.url}/abstracts.cat", DownloadPolicy(timeout_s=2, retries=3, backoff_s=0.01, backoff_max_s=0.05))
    assert body == ABSTRACTS.read_bytes() and server.counts["abstracts"] == 3


def test_download_shard_rejects_not_found_without_retrying(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = pd.DataFrame([{"obs_id": "missing_total", "proposal_id": "1", "uri": "mast:HST/product/missing_total.jpg",
                          "filename": "missing_total.jpg", "size": 10, "cycle": 1, "instrument": "", "filter": "",
                          "target": ""}])
    obs, rej, stats = download_shard(plan, settings_from_config(hst_config(server.url), "images/0", "q/0"))
    assert obs.empty and list(rej["reason"]) == ["http_404"]
    conform(rej, REJECTS)


def test_optional_fits_products_come_with_their_preview(server, proposals, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hst = hst_config(server.url, proposal_ids=["15354"], cycles=None, fits=True)
    plan, _ = build_plan(hst, proposals, shards=1, seed=7)
    obs, rej, _ = download_shard(plan, settings_from_config(hst, "images/0", "quarantine/0"))
    with_fits = obs[obs["fits_path"].notna()]
    assert list(with_fits["obs_id"]) == ["hst_15354_01_acs_wfc_total_jdi601_drc"]
    assert Path(with_fits["fits_path"].iloc[0]).read_bytes().startswith(b"SIMPLE  =")
    assert rej.empty


def test_fixtures_agree_with_each_other():
    """make_fixtures.py's outputs: every listed file is served with its listed size, and every proposal with
    a 'total' preview has an abstract in the larger catalogue, which extends the parser's fixture."""
    prods = fixture_products()
    served = prods[prods["productType"] != "AUXILIARY"]  # the recorded auxiliary rows are listed, never served
    assert len(served) >= 40
    for name, size in zip(served["productFilename"], served["size"]):
        assert (DATA / "files" / name.rsplit("/", 1)[-1]).stat().st_size == size, name
    caom = pd.DataFrame(json.loads((DATA / "observations.json").read_text())["data"])
    with_previews = set(caom.loc[caom["obs_id"].isin(prods.loc[prods["productFilename"].str.contains("total.*jpg"),
                                                              "obs_id"]), "proposal_id"].astype(str))
    big = ABSTRACTS.with_name("abstracts_hst.cat")
    catalogue = parse_abstracts(big.read_bytes()).proposals
    assert len(with_previews) >= 14 and with_previews <= set(catalogue["proposal_id"])
    assert big.read_bytes().startswith(ABSTRACTS.read_bytes())
