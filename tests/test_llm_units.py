"""Unit tests of the LLM layer's pure parts: schema, messages, cache, cost, keywords, config (retry timing and
sharding: test_retry.py, test_sharding.py)."""

import json
import threading
from pathlib import Path

import pytest

from skytext.llm import check_config
from skytext.llm.cache import Cache
from skytext.llm.client import image_part, user_message
from skytext.llm.cost import cost_report, estimate_cost
from skytext.llm.keywords import keyword_summary, load_vocabulary
from skytext.llm.prompt import load_prompt
from skytext.llm.schema import SchemaViolation, parse_summary, response_format

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "resources" / "vocab" / "astro_terms.yaml"
PROMPT = ROOT / "resources" / "prompts" / "summary_v1.yaml"


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
    msg = user_message("What is this?", image_part(png))
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


def test_check_config_names_the_problem_in_one_line():
    check_config({"backend": "keywords"}, ["abstract", "summary"])
    check_config({"backend": "none"}, ["abstract"])
    with pytest.raises(ValueError, match="llm.backend is 'none'") as e:
        check_config({"backend": "none"}, ["abstract", "summary"])
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="llm.model is empty"):
        check_config({"backend": "openai", "model": ""}, ["summary"])
