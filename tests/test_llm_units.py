"""Unit tests of the LLM layer's pure parts: schema, messages, cache, cost, keywords, config (retry timing and
sharding: test_retry.py, test_sharding.py)."""

import ast
import json
import re
import threading
from pathlib import Path

import pytest

from skytext.core.config import ConfigError, check
from skytext.llm.cache import Cache
from skytext.llm.client import image_part, user_message
from skytext.llm.cost import cost_report, estimate_cost
from skytext.llm.keywords import keyword_summary, load_vocabulary
from skytext.llm.prompt import load_prompt
from skytext.llm.schema import SchemaViolation, parse_summary, response_format

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "resources" / "vocab" / "astro_terms.yaml"
PROMPT = ROOT / "resources" / "prompts" / "summary_v1.yaml"
SCHEMAS = ROOT / "workflow" / "schemas"
LLM_PKG = ROOT / "workflow" / "scripts" / "skytext" / "llm"
LLM_SCRIPTS = [ROOT / "workflow" / "scripts" / n for n in ("summarise.py", "gather_summaries.py")]


def llm_defaults(**over):
    """The complete ``llm`` section a job receives: the schema's defaults under ``over``."""
    return check({"llm": over}, SCHEMAS)["llm"]


def test_a_valid_answer_is_parsed_and_cleaned():
    got = parse_summary('```json\n{"objects_and_phenomena": ["  spiral   galaxies "], "science_use_cases": ["x"]}\n```')
    assert got == {"objects_and_phenomena": ["spiral galaxies"], "science_use_cases": ["x"]}


@pytest.mark.parametrize("content,reason", [
    ("", "invalid_json"),
    ('{"objects_and_phenomena": ["a"]', "invalid_json"),
    ('{"objects_and_phenomena": ["a"]}', "schema_violation"),
    ('{"objects_and_phenomena": [], "science_use_cases": ["b"]}', "schema_violation"),
    (json.dumps({"objects_and_phenomena": list("abcdef"), "science_use_cases": ["b"]}), "schema_violation"),
    ('{"objects_and_phenomena": ["a"], "science_use_cases": ["b"], "telescope": "x"}', "schema_violation"),
    ('{"objects_and_phenomena": ["a", " A "], "science_use_cases": ["b"]}', "schema_violation"),
    ('{"objects_and_phenomena": [" "], "science_use_cases": ["b"]}', "schema_violation"),
])
def test_bad_answers_are_named(content, reason):
    with pytest.raises(SchemaViolation) as e:
        parse_summary(content)
    assert e.value.reason == reason


def test_response_format_carries_the_strict_schema():
    rf = response_format("proposal_summary")
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert rf["json_schema"]["schema"]["additionalProperties"] is False


def test_messages_carry_images_as_data_urls(tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n")
    msg = user_message("What is this?", image_part(png, detail="auto"))
    assert msg["content"][0] == {"type": "text", "text": "What is this?"}
    assert msg["content"][1]["image_url"]["url"] == "data:image/png;base64,iVBORw0K"
    assert user_message("plain") == {"role": "user", "content": "plain"}


def test_the_prompt_renders_and_its_text_is_hashed(tmp_path):
    p = load_prompt(PROMPT)
    msgs = p.messages("A Title", "Galaxies", "Some   abstract\ntext.")
    assert msgs[0]["role"] == "system" and "Title: A Title" in msgs[1]["content"]
    assert "Abstract: Some abstract text." in msgs[1]["content"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: v\nsystem: s\nuser: '{nope}'\n")
    with pytest.raises(ValueError, match="unknown placeholder"):
        load_prompt(bad)


def test_cache_round_trip_and_concurrent_writers_leave_whole_entries(tmp_path):
    cache = Cache(tmp_path)
    assert cache.get("ab" * 32) is None
    rec = {"status": "ok", "summary": {"objects_and_phenomena": ["x" * 5000]}}
    threads = [threading.Thread(target=cache.put, args=("ab" * 32, rec)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get("ab" * 32) == rec
    assert [p.name for p in cache.path("ab" * 32).parent.iterdir()] == [f"{'ab' * 32}.json"]  # no temp files
    cache.path("cd" * 32).parent.mkdir(parents=True, exist_ok=True)
    cache.path("cd" * 32).write_text("{truncated")
    assert cache.get("cd" * 32) is None


def test_cost_from_the_price_table():
    prices = {"gpt-4o-mini": {"input_per_1m": 0.15, "output_per_1m": 0.60}}
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000, prices) == pytest.approx(0.75)
    assert estimate_cost("other", 10, 10, prices) is None
    rep = cost_report("gpt-4o-mini", 400_000, 100_000, 1000, prices, factor=0.5)
    assert rep["cost_per_1000_abstracts_usd"] == pytest.approx(0.5 * (0.06 + 0.06))


def test_keywords_fill_the_schema_with_spelled_out_classes():
    vocab = load_vocabulary(VOCAB)
    got = keyword_summary(vocab, "AGN hosts", "Galaxies",
                          "We image AGN host galaxies to study feedback from the central black hole. Dust lanes.")
    assert got["objects_and_phenomena"][0] == "active galactic nuclei"
    assert "measure black hole masses" in got["science_use_cases"]
    assert all(1 <= len(v) <= 5 for v in got.values())
    # lower-case 'agn' is not the acronym; an unrelated text matches no use case
    with pytest.raises(SchemaViolation, match="no_vocabulary_match"):
        keyword_summary(vocab, "Untitled", "", "Lorem ipsum dolor sit amet.")


def test_config_check_names_an_llm_problem_in_one_line():
    """``config.check`` is the only validator: the schema refuses an unknown backend, a server backend without a
    model and zero shards; the cross-section rule (a summary caption needs a backend) runs inside ``check``."""
    check({"llm": {"backend": "keywords"}, "images": {"captions": ["abstract", "summary"]}}, SCHEMAS)
    check({"llm": {"backend": "none", "model": ""}}, SCHEMAS)  # no server asked: no model needed
    for bad, culprit in [({"llm": {"backend": "claude"}}, "llm.backend: 'claude' is not one of"),
                         ({"llm": {"backend": "openai", "model": " "}}, "llm.model: must name a model"),
                         ({"llm": {"shards": 0}}, "llm.shards: 0 is less than the minimum of 1"),
                         ({"images": {"captions": ["abstract", "summary"]}}, "llm.backend is 'none'")]:
        with pytest.raises(ConfigError) as e:
            check(bad, SCHEMAS)
        assert culprit in str(e.value) and "\n" not in str(e.value)


def test_a_users_price_table_is_merged_over_the_default_one():
    """Issue 22 item 12: ``llm.prices`` in a config adds models and replaces their prices; the reference models
    it does not name keep the schema's prices (they became null before)."""
    mine = {"my-model": {"input_per_1m": 1.0, "output_per_1m": 2.0},
            "gpt-4o": {"input_per_1m": 5.0, "output_per_1m": 20.0}}
    prices = llm_defaults(prices=mine)["prices"]
    assert prices["my-model"] == mine["my-model"] and prices["gpt-4o"] == mine["gpt-4o"]
    assert estimate_cost("gpt-4o-mini", 1_000_000, 1_000_000, prices) == pytest.approx(0.75)
    assert estimate_cost("gpt-4.1-nano", 1_000_000, 0, prices) == pytest.approx(0.10)
    assert set(prices) == set(llm_defaults()["prices"]) | {"my-model"}
    assert check({"llm": {"prices": prices}}, SCHEMAS)["llm"]["prices"] == prices  # checking twice changes nothing
    # from the command line (--config 'llm={prices: {...}}') every value arrives as a string
    cli = check({"llm": {"prices": {"my-model": {"input_per_1m": "1.0", "output_per_1m": "2"}}}}, SCHEMAS)["llm"]
    assert cli["prices"]["my-model"] == mine["my-model"] and cli["prices"]["gpt-4o"]["input_per_1m"] == 2.5


@pytest.mark.parametrize("reason, transient", [
    ("batch_request_dropped", True), ("batch_some_code_from_tomorrow", True), ("batch_http_500", True),
    ("batch_missing", True), ("batch_expired", True), ("http_429", True), ("timeout", True),
    ("batch_http_400", False), ("batch_invalid_request", False), ("batch_context_length_exceeded", False),
    ("http_400", False), ("schema_violation", False), ("invalid_json", False), ("empty_abstract", False),
    ("wrong_class", False),
])
def test_unknown_batch_error_codes_are_transient(reason, transient):
    """Issue 22 item 13: a batch line's error code this code does not know is asked again, not a final reject."""
    from skytext.llm.runner import is_transient

    assert is_transient(reason) is transient


def test_the_schema_is_the_only_home_of_llm_defaults():
    """No ``cfg.get("key", default)`` on a config section in the LLM code: the sections it receives are
    complete (``.get`` on API payloads and records is fine)."""
    pattern = re.compile(r"\b(?:cfg|llm_cfg|bcfg|config|llm)\.get\(")
    hits = [f"{p.name}:{n}" for p in [*LLM_PKG.glob("*.py"), *LLM_SCRIPTS]
            for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
    from skytext.llm.summarise import request_params
    from skytext.llm.prompt import load_prompt

    params = request_params(llm_defaults(), load_prompt(PROMPT))
    assert params["max_tokens"] == 400 and params["temperature"] == 0.0  # the schema's, not the code's


def test_llm_functions_and_modules_stay_small():
    """Functions of at most 60 lines, modules of at most 400."""
    too_long = []
    for path in [*sorted(LLM_PKG.glob("*.py")), *LLM_SCRIPTS]:
        text = path.read_text()
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    too_long.append(f"{path.name}:{node.name}: {n} lines")
    assert too_long == []
