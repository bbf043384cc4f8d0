"""The `openai-batch` backend against the stub: rounds of re-asks, and resuming a killed poller."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from fakes.openai_stub import OpenAIStub
from skytext.llm.summarise import summarise_proposals

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ROOT / "resources" / "prompts" / "summary_v1.yaml"
PROPOSALS = Path(__file__).parent / "data" / "llm" / "proposals.json"
KEY = "sk-test-batch-2c4e6a8b0d1f"
KEY_ENV = "SKYTEXT_TEST_LLM_KEY"

CHILD = """
import json, sys
import pandas as pd
from skytext.llm.summarise import summarise_proposals
cfg = json.load(open(sys.argv[1]))
summarise_proposals(pd.read_json(sys.argv[2], dtype={"proposal_id": str}), cfg, sys.argv[3])
"""


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    server = OpenAIStub(api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def proposals():
    return pd.DataFrame(json.loads(PROPOSALS.read_text()))


def batch_cfg(stub, tmp_path, **over):
    cfg = {"backend": "openai-batch", "base_url": stub.url, "model": "stub-model", "api_key_env": KEY_ENV,
           "timeout_s": 5, "max_retries": 2, "backoff_s": 0.01, "backoff_max_s": 0.05, "max_schema_retries": 1,
           "temperature": 0.0, "max_tokens": 200, "cache_dir": str(tmp_path / "cache"),
           "batch": {"poll_interval_s": 0.05, "completion_window": "24h", "price_factor": 0.5},
           "prices": {"stub-model": {"input_per_1m": 1.0, "output_per_1m": 2.0}}}
    cfg.update(over)
    return cfg


def test_batch_answers_re_asks_and_rejects(stub, proposals, tmp_path):
    t = proposals.set_index("proposal_id")["title"]
    stub.faults = {t["10002"]: ["invalid_json"], t["10003"]: ["always:schema"], t["10004"]: ["500"]}
    res = summarise_proposals(proposals, batch_cfg(stub, tmp_path), PROMPT)
    got = list(res.summaries["proposal_id"]) + list(res.rejects["record_id"])
    assert sorted(got) == sorted(proposals["proposal_id"])
    assert dict(zip(res.rejects["record_id"], res.rejects["reason"])) == {
        "10003": "schema_violation", "10004": "batch_http_500", "10009": "empty_abstract"}
    assert stub.counts["batch_create"] == 2  # the first round, then one re-ask round for 10002 and 10003
    assert len(res.run["batch_ids"]) == 2 and res.run["schema_retries"] == 2
    assert res.run["price_factor"] == 0.5 and res.run["cost_usd"] > 0
    assert not list((tmp_path / "cache" / "batches").glob("*.json"))  # finished batches leave no state
    # rerun: the server error is asked again, in a new batch of one
    again = summarise_proposals(proposals, batch_cfg(stub, tmp_path), PROMPT)
    assert stub.counts["batch_create"] == 3 and len(again.summaries) == 7
    assert sorted(again.summaries["proposal_id"]) == sorted(set(proposals["proposal_id"]) - {"10003", "10009"})


def test_a_killed_poller_resumes_its_batch_instead_of_paying_again(stub, proposals, tmp_path):
    stub.batch_hold = True  # the batch stays in progress until released
    cfg_path, props_path = tmp_path / "cfg.json", tmp_path / "proposals.json"
    cfg_path.write_text(json.dumps(batch_cfg(stub, tmp_path)))
    proposals.to_json(props_path, orient="records")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "workflow" / "scripts"), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(cfg_path), str(props_path), str(PROMPT)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while stub.counts["batch_retrieve"] < 2 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert stub.counts["batch_retrieve"] >= 2, "the child never started polling"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert stub.counts["batch_create"] == 1 and stub.counts["file_upload"] == 1
    state = list((tmp_path / "cache" / "batches").glob("*.json"))
    assert len(state) == 1
    saved = json.loads(state[0].read_text())
    assert saved["batch_id"].startswith("batch-")

    stub.batch_hold = False
    res = summarise_proposals(proposals, batch_cfg(stub, tmp_path), PROMPT)
    assert stub.counts["batch_create"] == 1 and stub.counts["file_upload"] == 1  # resumed, not resubmitted
    assert len(res.summaries) == 8 and list(res.rejects["reason"]) == ["empty_abstract"]
    assert res.run["batch_ids"] == [saved["batch_id"]]
    assert not state[0].exists()
    before = sum(stub.counts.values())
    rerun = summarise_proposals(proposals, batch_cfg(stub, tmp_path), PROMPT)
    assert sum(stub.counts.values()) == before and rerun.run["calls"] == 0  # all from the cache


def test_a_lost_create_answer_is_found_in_the_batch_list(stub, proposals, tmp_path):
    """State with an uploaded input file but no batch id (killed between create and save): the batch the
    server already made from that file is reused."""
    from skytext.llm.batch import BatchRunner
    from skytext.llm.client import ChatClient

    client = ChatClient(model="stub-model", api_key=KEY, base_url=stub.url)
    f = client.openai.files.create(file=("in.jsonl", b"{}\n", "application/jsonl"), purpose="batch")
    made = client.openai.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    runner = BatchRunner(client, tmp_path / "state", poll_interval_s=0.01)
    batch = runner._submit("k" * 64, "{}\n", "t", {"input_file_id": f.id})
    assert batch.id == made.id and stub.counts["batch_create"] == 1
    client.close()
