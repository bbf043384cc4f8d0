"""The `openai-batch` backend against the stub: rounds of re-asks, resubmitted failed lines, verified
uploads and downloads, a server without a batch list, and resuming a killed poller."""

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
from skytext.core.config import check
from skytext.llm.client import ChatError
from skytext.llm.summarise import summarise_proposals

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ROOT / "resources" / "prompts" / "summary_v1.yaml"
PROPOSALS = Path(__file__).parent / "data" / "llm" / "proposals.json"
SCHEMAS = ROOT / "workflow" / "schemas"
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


def batch_cfg(stub, tmp_path, batch=None, **over):
    """The complete ``llm`` section a job receives: the schema's defaults under these settings."""
    cfg = {"backend": "openai-batch", "base_url": stub.url, "model": "stub-model", "api_key_env": KEY_ENV,
           "timeout_s": 5, "max_retries": 2, "backoff_s": 0.01, "backoff_max_s": 0.05, "max_schema_retries": 1,
           "max_tokens": 200, "cache_dir": str(tmp_path / "cache"),
           "batch": {"poll_interval_s": 0.05, **(batch or {})},
           "prices": {"stub-model": {"input_per_1m": 1.0, "output_per_1m": 2.0}}}
    cfg.update(over)
    return check({"llm": cfg}, SCHEMAS)["llm"]


def accounted(res, proposals):
    got = list(res.summaries["proposal_id"]) + list(res.rejects["record_id"])
    assert sorted(got) == sorted(proposals["proposal_id"]), "every proposal ends in summaries or rejects, once"
    assert (res.rejects["reason"] != "").all() and (res.rejects["detail"] != "").all()


def test_batch_answers_re_asks_and_rejects(stub, proposals, tmp_path):
    t = proposals.set_index("proposal_id")["title"]
    stub.faults = {t["10002"]: ["invalid_json"], t["10003"]: ["always:schema"], t["10004"]: ["always:500"]}
    cfg = batch_cfg(stub, tmp_path, batch={"max_resubmits": 1})
    res = summarise_proposals(proposals, cfg, PROMPT)
    accounted(res, proposals)
    assert dict(zip(res.rejects["record_id"], res.rejects["reason"])) == {
        "10003": "schema_violation", "10004": "batch_http_500", "10009": "empty_abstract"}
    # the first round, then one round re-asking 10002 and 10003 and resubmitting 10004
    assert stub.counts["batch_create"] == 2 and stub.counts[f"chat:{t['10004']}"] == 2
    assert len(res.run["batch_ids"]) == 2 and res.run["schema_retries"] == 2
    assert res.run["price_factor"] == 0.5 and res.run["cost_usd"] > 0
    assert not list((tmp_path / "cache" / "batches").glob("*.json"))  # finished batches leave no state
    # rerun: the server error is asked again, in a new batch of one
    stub.faults = {}
    again = summarise_proposals(proposals, cfg, PROMPT)
    assert stub.counts["batch_create"] == 3 and len(again.summaries) == 7
    assert sorted(again.summaries["proposal_id"]) == sorted(set(proposals["proposal_id"]) - {"10003", "10009"})


def test_a_killed_poller_resumes_its_batch_instead_of_paying_again(stub, proposals, tmp_path):
    stub.batch_hold = True  # the batch stays in progress until released
    stub.list_status = 404  # resuming needs no batch list: the id is in the state file
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


def test_a_lost_create_answer_is_found_in_the_batch_list_when_the_server_has_one(stub, proposals, tmp_path):
    """State with an uploaded input file and a create sent but no batch id (killed between create and save):
    the batch the server already made from that file is reused; a server without ``GET /v1/batches`` (404)
    gets a new batch instead of stopping the job."""
    from skytext.llm.batch import BatchRunner
    from skytext.llm.client import ChatClient, RetryPolicy

    client = ChatClient(model="stub-model", api_key=KEY, base_url=stub.url, timeout_s=5, policy=RetryPolicy(retries=0, backoff_s=0.01, backoff_max_s=0.05))
    f = client.openai.files.create(file=("in.jsonl", b"{}\n", "application/jsonl"), purpose="batch")
    made = client.openai.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    runner = BatchRunner(client, tmp_path / "state", poll_interval_s=0.01, completion_window="24h")
    batch = runner._submit("k" * 64, "{}\n", "t", {"input_file_id": f.id, "create_sent": True})
    assert batch.id == made.id and stub.counts["batch_create"] == 1
    # a fresh submission never asks for the list
    runner._submit("m" * 64, "{}\n", "t", {"input_file_id": f.id})
    assert stub.counts["batch_list"] == 1 and stub.counts["batch_create"] == 2
    stub.list_status = 404
    batch = runner._submit("n" * 64, "{}\n", "t", {"input_file_id": f.id, "create_sent": True})
    assert batch.id != made.id and stub.counts["batch_create"] == 3
    client.close()


@pytest.mark.parametrize("via", ["batch", "chat"])
def test_a_batch_server_without_a_list_with_failed_lines_and_a_cut_download(stub, proposals, tmp_path, via):
    """Acceptance (issue #13, item 1): ``GET /v1/batches`` answers 404, the output holds 429 and 500 lines and
    misses one, and the first download of the output is cut in half. Every request ends in summaries or
    rejects with a reason, no answered request is rejected, and the cost is that of the answered tokens."""
    t = proposals.set_index("proposal_id")["title"]
    stub.list_status = 404
    stub.faults = {t["10001"]: ["429"], t["10002"]: ["500"], t["10004"]: ["missing"], t["10005"]: ["invalid_json"],
                   t["10006"]: ["always:500"] if via == "batch" else ["500", "always:503"]}
    stub.download_faults = ["truncate"]
    res = summarise_proposals(proposals, batch_cfg(stub, tmp_path, batch={"resubmit_via": via}, max_retries=1), PROMPT)
    accounted(res, proposals)
    reasons = dict(zip(res.rejects["record_id"], res.rejects["reason"]))
    assert reasons == {"10006": "batch_http_500" if via == "batch" else "http_503", "10009": "empty_abstract"}
    assert stub.counts["batch_list"] == 0 and stub.counts["file_content"] >= 2
    run, u = res.run, stub.usage
    assert (run["tokens_in"], run["tokens_out"]) == (u["batch_in"] + u["chat_in"], u["batch_out"] + u["chat_out"])
    assert (run["batch_tokens_in"], run["batch_tokens_out"]) == (u["batch_in"], u["batch_out"])
    cost = (0.5 * (u["batch_in"] + 2 * u["batch_out"]) + u["chat_in"] + 2 * u["chat_out"]) / 1e6
    assert run["cost_usd"] == pytest.approx(cost)
    if via == "chat":
        assert stub.counts["batch_create"] == 2 and u["chat_in"] > 0  # the re-ask of 10005 stays in a batch
    else:
        assert stub.counts["batch_create"] == 3 and u["chat_in"] == 0  # 10006 sent three times in all
    # answered, though beyond the cut of the first download: never asked again
    assert [stub.counts[f"chat:{t[pid]}"] for pid in ("10003", "10007", "10008")] == [1, 1, 1]


def test_a_cut_or_failed_upload_is_sent_again(stub, proposals, tmp_path):
    stub.upload_faults = ["truncate", "500"]
    res = summarise_proposals(proposals, batch_cfg(stub, tmp_path), PROMPT)
    accounted(res, proposals)
    assert len(res.summaries) == 8 and stub.counts["file_upload"] == 3 and stub.counts["batch_create"] == 1


def test_failed_or_expired_batches_are_resubmitted_then_rejected_with_the_reason(stub, proposals, tmp_path):
    stub.upload_faults = ["corrupt"] * 2  # cut uploads the server takes for whole: the batch fails validation
    res = summarise_proposals(proposals, batch_cfg(stub, tmp_path, batch={"max_resubmits": 1}), PROMPT)
    accounted(res, proposals)
    assert set(res.rejects["reason"]) == {"batch_failed", "empty_abstract"}
    assert stub.counts["batch_create"] == 2
    assert summarise_proposals(proposals, batch_cfg(stub, tmp_path), PROMPT).run["summarised"] == 8


def test_a_rerun_asks_again_for_transient_rejects_only(stub, proposals, tmp_path):
    t = proposals.set_index("proposal_id")["title"]
    stub.faults = {t["10001"]: ["always:500"], t["10002"]: ["always:missing"], t["10003"]: ["always:schema"]}
    cfg = batch_cfg(stub, tmp_path, batch={"max_resubmits": 0})
    first = summarise_proposals(proposals, cfg, PROMPT)
    assert dict(zip(first.rejects["record_id"], first.rejects["reason"])) == {
        "10001": "batch_http_500", "10002": "batch_missing", "10003": "schema_violation", "10009": "empty_abstract"}
    stub.faults = {}
    again = summarise_proposals(proposals, cfg, PROMPT)
    assert dict(zip(again.rejects["record_id"], again.rejects["reason"])) == {
        "10003": "schema_violation", "10009": "empty_abstract"}
    assert again.run["cache_hits"] == 6 and stub.counts["batch_line"] == 8 + 1 + 2


def test_a_wrong_key_stops_a_batch_job_after_one_request(stub, proposals, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-batch-key")
    with pytest.raises(ChatError) as e:
        summarise_proposals(proposals, batch_cfg(stub, tmp_path), PROMPT)
    msg = str(e.value)
    assert stub.counts["unauthorised"] == 1 and sum(stub.counts.values()) == 1
    assert msg.startswith("http_401") and KEY_ENV in msg and "\n" not in msg and "sk-wrong" not in msg


def test_an_unknown_batch_error_code_is_sent_again_and_asked_again_on_a_rerun(stub, proposals, tmp_path):
    """Issue 22 item 13: a batch line with an error code the code has never seen (``request_dropped``) is the
    server's passing trouble: resent within the run, a transient reject when it keeps failing, and asked again
    by the next run (its id is in the transient reject ids the ``summarise`` rule reruns on)."""
    from skytext.llm.runner import transient_reject_ids
    from skytext.llm.summarise import write_rejects

    t = proposals.set_index("proposal_id")["title"]
    stub.faults = {t["10001"]: ["code:request_dropped"], t["10002"]: ["always:code:request_dropped"]}
    cfg = batch_cfg(stub, tmp_path, batch={"max_resubmits": 1})
    first = summarise_proposals(proposals, cfg, PROMPT)
    accounted(first, proposals)
    assert dict(zip(first.rejects["record_id"], first.rejects["reason"])) == {
        "10002": "batch_request_dropped", "10009": "empty_abstract"}
    assert stub.counts[f"chat:{t['10001']}"] == 2 and stub.counts[f"chat:{t['10002']}"] == 2  # resent once each
    write_rejects(first.rejects, tmp_path / "rejects.parquet")
    assert transient_reject_ids(str(tmp_path / "rejects.parquet")) == ["10002"]
    stub.faults = {}
    again = summarise_proposals(proposals, cfg, PROMPT)
    assert list(again.rejects["reason"]) == ["empty_abstract"] and again.run["cache_hits"] == 7
