"""End to end: the `transients` target on the micro config, classify and judge through the OpenAI-compatible
vision stub (an oracle with a chosen error set and transport/content faults); a plain rerun asks again for
exactly the triplets rejected for a passing reason (issue 22 item 9) and takes everything else from the cache."""

import hashlib
import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow
from fakes.vision_stub import VisionStub
from skytext.core.split import split_by_group
from skytext.sources.triplets_demo import demo_catalogue
from skytext.transients.prompt import stratified_subset

pytestmark = pytest.mark.e2e
KEY = "sk-transients-e2e-77a1"
RES = "results/transients/demo"
ERROR_RATE = 0.25


def _flipped(tid: str) -> bool:
    return int(hashlib.sha256(f"flip:{tid}".encode()).hexdigest(), 16) % 10_000 < ERROR_RATE * 10_000


def test_transients_study_through_the_vision_stub(tmp_path):
    copy_workflow(tmp_path)
    micro = yaml.safe_load((tmp_path / "tests/configs/transients-micro.yaml").read_text())
    cat = demo_catalogue(micro["transients"]["demo"]["n_triplets"], micro["seed"])
    truth = dict(zip(cat["triplet_id"], cat["label"]))
    sp = micro["transients"]["split"]
    will_test = sorted(t for t, s in split_by_group(truth, sp["val_fraction"], sp["test_fraction"], micro["seed"]).items()
                       if s == "test")
    flip = {t for t in truth if _flipped(t)}
    bad_json, bad_class = [t for t in will_test if t not in flip][:2]  # content faults on evaluated triplets
    rp = micro["transients"]["repeat"]
    repeated = set(stratified_subset(pd.DataFrame({"obs_id": will_test, "label": [truth[t] for t in will_test]}),
                                     rp["n_triplets"], micro["seed"] + 1)["obs_id"])
    # a passing fault: every attempt of the first run fails with a 5xx (1 + max_retries), none of the next
    flaky = [t for t in will_test if t not in flip and t not in (bad_json, bad_class) and t not in repeated][0]
    server = VisionStub(api_key=KEY, truth=truth, flip=flip).start()
    server.faults["*"] = ["429", "500", "drop"]
    server.faults[bad_json] = ["always:invalid_json"]
    server.faults[bad_class] = ["always:wrong_class"]
    server.faults[flaky] = ["500"] * 4
    try:
        micro["llm"].update(backend="none", base_url=server.url, model="stub-vision", api_key_env="SKYTEXT_TRN_KEY",
                            max_concurrency=2, timeout_s=5, backoff_s=0.01, max_retries=3, max_schema_retries=1,
                            cache_dir="results/llm-cache",
                            prices={"stub-vision": {"input_per_1m": 1.0, "output_per_1m": 2.0},
                                    "gpt-4o": {"input_per_1m": 2.5, "output_per_1m": 10.0}})
        micro["transients"]["classify"] = {"backend": "openai"}
        micro["transients"]["judge"] = {"backend": "openai", "refine_below": 3}
        (tmp_path / "micro.yaml").write_text(yaml.safe_dump(micro))
        env = {**os.environ, "SKYTEXT_TRN_KEY": KEY}
        cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "micro.yaml", "--show-failed-logs",
               "transients"]
        t0 = time.monotonic()  # timeouts only catch a hang: 92 s / 50 s measured on 2 busy cores
        run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
        print(f"first run: {time.monotonic() - t0:.0f} s")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

        trip = pd.read_parquet(tmp_path / RES / "dataset/triplets.parquet")
        test_ids = set(trip.loc[trip["split"] == "test", "obs_id"])
        ans = pd.concat([pd.read_parquet(p) for p in (tmp_path / RES / "llm/shards").glob("*/answers.parquet")])
        rej = pd.concat([pd.read_parquet(p) for p in (tmp_path / RES / "llm/shards").glob("*/rejects.parquet")])
        assert test_ids == set(will_test)  # the split the test planned for (bad triplets are rejected earlier)
        assert set(ans["obs_id"]) | set(rej["record_id"]) == test_ids  # every triplet answered or rejected
        assert not set(ans["obs_id"]) & set(rej["record_id"])
        reasons = dict(zip(rej["record_id"], rej["reason"]))
        assert reasons == {bad_json: "invalid_json", bad_class: "wrong_class", flaky: "http_500"}
        assert rej.set_index("record_id").loc[bad_json, "raw"] and rej.set_index("record_id").loc[bad_class, "raw"]
        ds_rej = pd.read_parquet(tmp_path / RES / "dataset/rejects.parquet")
        assert sorted(ds_rej["reason"]) == ["all_zero", "non_finite"]

        res = json.loads((tmp_path / RES / "eval/llm/classification.json").read_text())
        assert res["orientation"] == {"tp": "Real->Real", "fn": "Real->Bogus", "fp": "Bogus->Real", "tn": "Bogus->Bogus"}
        got = ans.assign(label=[truth[t] for t in ans["obs_id"]], flip=[t in server.flip for t in ans["obs_id"]])
        real, wrong = got["label"] == "Real", got["flip"]
        assert 0 < int(wrong.sum()) < len(got) and real.any() and (~real).any()  # every cell can be checked
        assert res["confusion"] == {"tp": int((real & ~wrong).sum()), "fn": int((real & wrong).sum()),
                                    "fp": int((~real & wrong).sum()), "tn": int((~real & ~wrong).sum())}
        lo, hi = res["accuracy_ci"]
        assert lo <= 1 - ERROR_RATE <= hi
        assert res["judge"]["auroc_low_coherence_detects_errors"] == 1.0

        summary = json.loads((tmp_path / RES / "eval/summary.json").read_text())
        ref = summary["refinement"]
        assert ref["changed_outside_low_coherence"] == 0 and ref["right_to_wrong"] == 0
        assert ref["wrong_to_right"] == int(wrong.sum()) == ref["asked_again"]
        refined = json.loads((tmp_path / RES / "eval/llm-refined/classification.json").read_text())
        assert refined["accuracy"] == 1.0
        assert summary["calls"]["classify"] > 0 and summary["cost_per_1000_triplets"]["gpt-4o"]["priced"]

        before = dict(server.counts)
        t0 = time.monotonic()  # a plain rerun (repeat forced to show its cache): only the flaky triplet is asked
        rerun = subprocess.run(cmd + ["--forcerun", "transients_repeat"], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=1800)
        print(f"rerun: {time.monotonic() - t0:.0f} s")
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        asked = {k: server.counts[k] - before.get(k, 0) for k in server.counts if server.counts[k] != before.get(k, 0)}
        assert asked == {"chat": 2, "classify": 1, f"classify:{flaky}": 1, "judge": 1, f"judge:{flaky}": 1}, asked
        rej = pd.concat([pd.read_parquet(p) for p in (tmp_path / RES / "llm/shards").glob("*/rejects.parquet")])
        assert dict(zip(rej["record_id"], rej["reason"])) == {bad_json: "invalid_json", bad_class: "wrong_class"}
        summary = json.loads((tmp_path / RES / "eval/summary.json").read_text())
        assert summary["calls"] == {"classify": 1, "judge": 1, "repeat": 0}
        leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
        assert leaks == []
    finally:
        server.stop()
