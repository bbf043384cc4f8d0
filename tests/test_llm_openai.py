"""The `openai` backend against the OpenAI-compatible stub on 127.0.0.1, with the real openai client."""

import json
from pathlib import Path

import pandas as pd
import pytest

from fakes.openai_stub import OpenAIStub
from skytext.core.config import check
from skytext.llm.cache import Cache
from skytext.llm.client import ChatError
from skytext.llm.prompt import load_prompt
from skytext.llm.summarise import cache_key, request_params, summarise_proposals, write_rejects, write_run
from skytext.llm.summarise import write_summaries
from skytext.core.smk import log_to

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ROOT / "resources" / "prompts" / "summary_v1.yaml"
PROPOSALS = Path(__file__).parent / "data" / "llm" / "proposals.json"
SCHEMAS = ROOT / "workflow" / "schemas"
KEY = "sk-test-7f3a9c1e5b2d4f60-do-not-leak"
KEY_ENV = "SKYTEXT_TEST_LLM_KEY"


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    server = OpenAIStub(api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def proposals():
    return pd.DataFrame(json.loads(PROPOSALS.read_text()))


def llm_cfg(stub, tmp_path, **over):
    """The complete ``llm`` section a job receives: the schema's defaults under these settings."""
    cfg = {"backend": "openai", "base_url": stub.url, "model": "stub-model", "api_key_env": KEY_ENV,
           "max_concurrency": 3, "timeout_s": 2.0, "max_retries": 3, "backoff_s": 0.01, "backoff_max_s": 0.05,
           "max_schema_retries": 1, "max_tokens": 200, "cache_dir": str(tmp_path / "cache"),
           "batch": {"poll_interval_s": 0.05}, "prices": {"stub-model": {"input_per_1m": 1.0, "output_per_1m": 2.0}}}
    cfg.update(over)
    return check({"llm": cfg}, SCHEMAS)["llm"]


def title(proposals, pid):
    return proposals.set_index("proposal_id").loc[pid, "title"]


def accounted(res, proposals):
    got = list(res.summaries["proposal_id"]) + list(res.rejects["record_id"])
    assert sorted(got) == sorted(proposals["proposal_id"]), "every proposal ends in summaries or rejects, once"


def test_faults_end_in_summaries_or_rejects_and_nothing_crashes(stub, proposals, tmp_path):
    t = lambda pid: title(proposals, pid)  # noqa: E731
    stub.faults = {
        t("10001"): ["429", "429"],           # rate limited twice, Retry-After honoured
        t("10002"): ["500", "503", "500"],    # a 5xx burst within max_retries
        t("10003"): ["drop"],                 # connection closed without an answer
        t("10004"): ["invalid_json"],         # fixed by one re-ask
        t("10005"): ["always:schema"],        # never valid -> rejected with the raw answer
        t("10006"): ["always:invalid_json"],  # never JSON -> rejected
        t("10007"): ["slow"],                 # past the client timeout, then fine
        t("10008"): ["always:503"],           # the server never recovers -> rejected, not cached
    }
    stub.slow_s = 4.0  # twice the client's timeout; a normal stub answer takes milliseconds (issue 22 item 22)
    res = summarise_proposals(proposals, llm_cfg(stub, tmp_path), PROMPT)
    accounted(res, proposals)
    assert sorted(res.summaries["proposal_id"]) == ["10001", "10002", "10003", "10004", "10007"]
    reasons = dict(zip(res.rejects["record_id"], res.rejects["reason"]))
    assert reasons == {"10005": "schema_violation", "10006": "invalid_json", "10008": "http_503",
                       "10009": "empty_abstract"}
    raw = dict(zip(res.rejects["record_id"], res.rejects["raw"]))
    assert '"extra": 1' in raw["10005"] and raw["10006"].startswith('{"objects_and_phenomena"')
    assert (res.rejects["stage"] == "summarise").all() and (res.rejects["record_type"] == "proposal").all()
    gaps = stub.times[f"chat:{t('10001')}"]
    assert gaps[1] - gaps[0] >= 0.2 and gaps[2] - gaps[1] >= 0.2  # Retry-After: 0.2 was waited out
    run = res.run
    assert run["calls"] == stub.counts["chat"]
    assert run["retries"] == 2 + 3 + 1 + 1 + 3  # 429s, 5xx burst, drop, timeout, 503 until out of retries
    assert run["schema_retries"] == 3  # 10004, 10005, 10006 were asked once more
    assert run["tokens_in"] > 0 and run["tokens_out"] > 0 and run["cost_usd"] > 0
    assert stub.max_inflight <= 3
    row = res.summaries.set_index("proposal_id").loc["10001"]
    assert row["backend"] == "openai" and row["model"] == "stub-model" and row["prompt_version"] == "summary-v1"
    assert list(row["objects_and_phenomena"])[0] == "galaxies"

    # rerun: only the transport failure is asked again (max_retries + 1 requests); content rejects are cached
    before = stub.counts["chat"]
    again = summarise_proposals(proposals, llm_cfg(stub, tmp_path), PROMPT)
    assert stub.counts["chat"] - before == 4 and again.run["cache_hits"] == 7
    accounted(again, proposals)
    pd.testing.assert_frame_equal(again.summaries, res.summaries)


def test_a_rerun_and_a_second_dag_make_zero_calls(stub, proposals, tmp_path):
    stub.delay_s = 0.05
    first = summarise_proposals(proposals, llm_cfg(stub, tmp_path), PROMPT)
    assert len(first.summaries) == 8 and stub.counts["chat"] == 8
    calls = stub.counts["chat"]
    rerun = summarise_proposals(proposals, llm_cfg(stub, tmp_path), PROMPT)
    # a second DAG: other shards, other order, other concurrency, batch backend -- same cache
    parts = [proposals.iloc[::-1].iloc[i::2] for i in range(2)]
    other = [summarise_proposals(p, llm_cfg(stub, tmp_path, backend="openai-batch", max_concurrency=1), PROMPT)
             for p in parts]
    assert stub.counts["chat"] == calls
    assert [k for k in stub.counts if not k.startswith("chat")] == []  # no batch or file requests either
    assert rerun.run["calls"] == 0 and rerun.run["cache_hits"] == 8 and rerun.run["cost_usd"] == 0
    assert rerun.run["cost_per_1000_abstracts_usd"] == pytest.approx(first.run["cost_per_1000_abstracts_usd"])
    pd.testing.assert_frame_equal(rerun.summaries, first.summaries)
    assert sum(len(o.summaries) for o in other) == 8
    # a changed prompt text or model is a different key
    changed = summarise_proposals(proposals.head(2), llm_cfg(stub, tmp_path, model="stub-model-2"), PROMPT)
    assert changed.run["calls"] == 2


def test_the_api_key_never_reaches_outputs_logs_or_cache(stub, proposals, tmp_path):
    stub.faults = {title(proposals, "10001"): ["429"], title(proposals, "10002"): ["always:schema"]}
    out, logs = tmp_path / "results", tmp_path / "logs"
    with log_to(logs / "summarise" / "0.log"):
        res = summarise_proposals(proposals, llm_cfg(stub, tmp_path, cache_dir=str(out / "llm-cache")), PROMPT)
        write_summaries(res.summaries, out / "llm" / "summaries.parquet")
        write_rejects(res.rejects, out / "llm" / "rejects.parquet")
        write_run(res.run, out / "llm" / "run.json")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 5 and (logs / "summarise" / "0.log").stat().st_size > 0
    assert "http_429" in (logs / "summarise" / "0.log").read_text()
    leaks = [str(p) for p in files if KEY.encode() in p.read_bytes() or KEY[8:24].encode() in p.read_bytes()]
    assert leaks == []


def test_a_wrong_key_stops_the_job_after_the_first_answer_with_one_line(stub, proposals, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key-0123456789")
    stub.delay_s = 0.05
    with pytest.raises(ChatError) as e:
        summarise_proposals(proposals, llm_cfg(stub, tmp_path, max_concurrency=4), PROMPT)
    msg = str(e.value)
    assert stub.counts["unauthorised"] == 1 and stub.counts["chat"] == 0
    assert msg.startswith("http_401") and KEY_ENV in msg and "\n" not in msg
    assert "sk-wrong" not in msg and "0123456789" not in msg
    # a key revoked mid-run: the workers stop at once instead of sending the rest
    monkeypatch.setenv(KEY_ENV, KEY)
    stub.faults = {title(proposals, "10003"): ["always:403"]}
    with pytest.raises(ChatError, match="http_403"):
        summarise_proposals(proposals, llm_cfg(stub, tmp_path, max_concurrency=2), PROMPT)
    assert stub.counts["chat"] <= 4
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ValueError, match=f"environment variable {KEY_ENV}"):
        summarise_proposals(proposals, llm_cfg(stub, tmp_path), PROMPT)


def test_transient_rejects_in_the_cache_are_asked_again_content_rejects_until_the_prompt_changes(
        stub, proposals, tmp_path):
    """Reject records a run left in the cache: the transient ones (server errors, timeouts, lines missing from a
    batch, rate limits) are asked again; a schema reject stays rejected unless the prompt version changes."""
    cfg = llm_cfg(stub, tmp_path)
    prompt, cache = load_prompt(PROMPT), Cache(cfg["cache_dir"])
    rows = proposals.set_index("proposal_id")
    planted = {"10001": "http_500", "10002": "timeout", "10003": "batch_missing", "10004": "http_429",
               "10005": "batch_http_503", "10006": "schema_violation"}
    for pid, reason in planted.items():
        r = rows.loc[pid]
        key = cache_key("stub-model", prompt, request_params(cfg, prompt), r["title"], r["category"], r["abstract"])
        cache.put(key, {"status": "rejected", "summary": None, "reason": reason, "detail": "earlier run",
                        "raw": "{}" if reason == "schema_violation" else "", "tokens_in": 0, "tokens_out": 0})
    res = summarise_proposals(proposals, cfg, PROMPT)
    assert dict(zip(res.rejects["record_id"], res.rejects["reason"])) == {
        "10006": "schema_violation", "10009": "empty_abstract"}
    assert stub.counts["chat"] == 7 and res.run["cache_hits"] == 1
    v2 = tmp_path / "summary_v2.yaml"
    v2.write_text(PROMPT.read_text().replace("summary-v1", "summary-v2"))
    assert "summary-v2" in v2.read_text()
    again = summarise_proposals(proposals, cfg, v2)
    assert len(again.summaries) == 8 and stub.counts["chat"] == 7 + 8


def test_keywords_and_none_backends_make_no_calls(stub, proposals, tmp_path):
    vocab = ROOT / "resources" / "vocab" / "astro_terms.yaml"
    kw = summarise_proposals(proposals, llm_cfg(stub, tmp_path, backend="keywords"), PROMPT, vocab)
    accounted(kw, proposals)
    assert len(kw.summaries) == 8 and kw.summaries["model"].str.startswith("keywords:").all()
    none = summarise_proposals(proposals, llm_cfg(stub, tmp_path, backend="none"), PROMPT, vocab)
    accounted(none, proposals)
    assert len(none.summaries) == 0 and set(none.rejects["reason"]) == {"llm_disabled", "empty_abstract"}
    assert sum(stub.counts.values()) == 0
