"""The HST proposal-abstracts parser, on a fixture in the catalogue's real record format."""

from pathlib import Path

import pandas as pd
import pytest

from skytext.sources.abstracts import decode_catalogue, parse_abstracts
from skytext.core.contracts import PROPOSALS, REJECTS, conform

DATA = Path(__file__).parent / "data" / "abstracts"


@pytest.fixture(scope="module")
def parsed():
    return parse_abstracts(decode_catalogue((DATA / "abstracts.cat").read_bytes()))


def test_tables_follow_the_contract(parsed):
    proposals, rejects = parsed
    conform(proposals, PROPOSALS, "proposals")
    conform(rejects, REJECTS, "rejects")
    assert proposals["proposal_id"].is_unique


def test_every_record_is_kept_or_rejected_with_a_reason(parsed):
    proposals, rejects = parsed
    assert sorted(proposals["proposal_id"]) == ["13495", "15354", "5092", "5371"]
    reasons = dict(zip(rejects["record_id"], rejects["reason"]))
    assert reasons["12000"] == "no_abstract"
    assert reasons["ABC12"] == "bad_id"
    assert reasons["13495"] == "duplicate_id"
    assert "no_fields" in reasons.values()
    assert len(proposals) + len(rejects) == 8
    assert (rejects["detail"].str.len() > 0).all() and (rejects["stage"] == "hst_abstracts").all()


def test_wrapped_title_and_field_like_text_inside_the_abstract(parsed):
    p = parsed[0].set_index("proposal_id")
    assert p.loc["13495", "title"] == (
        "Frontier Fields: Deep imaging of strong lensing galaxy clusters and their parallel fields"
    )
    assert p.loc["13495", "pi"] == "Jennifer Lotz"
    assert p.loc["13495", "cycle"] == 21
    assert p.loc["13495", "abstract"].startswith("The Frontier Fields program uses")
    assert "ID: 999 and Cycle: 3" in p.loc["13495", "abstract"]
    assert p.loc["13495", "title"] != "Duplicate of the first record"  # first record wins


def test_odd_whitespace_case_and_missing_fields(parsed):
    p = parsed[0].set_index("proposal_id")
    assert p.loc["5092", "prop_type"] == "SNAP"
    assert p.loc["5092", "category"] == "Solar System"
    assert pd.isna(p.loc["5092", "cycle"])
    assert p.loc["5092", "abstract"] == "Tabs and odd whitespace in the abstract."
    assert p.loc["5371", "prop_type"] == "" and pd.isna(p.loc["5371", "cycle"])
    assert p.loc["5371", "abstract"] == "Massive stars in the Magellanic Clouds."


def test_non_ascii_and_abstract_without_blank_line(parsed):
    p = parsed[0].set_index("proposal_id")
    assert p.loc["15354", "pi"] == "Jos\u00e9 Mu\u00f1oz-\u00c5ngstr\u00f6m"
    assert p.loc["15354", "abstract"].startswith("We measure proper motions of globular clusters (no blank")


def test_cp1252_bytes_are_decoded():
    proposals, rejects = parse_abstracts(decode_catalogue((DATA / "abstracts_cp1252.cat").read_bytes()))
    assert rejects.empty
    row = proposals.iloc[0]
    assert (row["proposal_id"], row["pi"], row["cycle"]) == ("777", "Ren\u00e9e", 9)
    assert row["abstract"] == "Dust in the caf\u00e9 \u2013 nebula."


def test_empty_catalogue_gives_empty_tables():
    proposals, rejects = parse_abstracts("")
    assert proposals.empty and rejects.empty
    assert list(proposals.columns) == [c.name for c in PROPOSALS if c.required]
