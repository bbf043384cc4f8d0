"""The HST proposal-abstracts parser, on a fixture in the catalogue's real record format."""

from pathlib import Path

import pandas as pd
import pytest

from skytext.sources.abstracts import decode_record, parse_abstracts
from skytext.core.contracts import PROPOSALS, REJECTS, conform

DATA = Path(__file__).parent / "data" / "abstracts"


@pytest.fixture(scope="module")
def parsed():
    return parse_abstracts((DATA / "abstracts.cat").read_bytes())


def test_tables_follow_the_contract(parsed):
    proposals, rejects, _ = parsed
    conform(proposals, PROPOSALS, "proposals")
    conform(rejects, REJECTS, "rejects")
    assert proposals["proposal_id"].is_unique


def test_every_record_is_kept_or_rejected_with_a_reason(parsed):
    proposals, rejects, fallbacks = parsed
    assert fallbacks == []  # plain UTF-8
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
    proposals, rejects, fallbacks = parse_abstracts((DATA / "abstracts_cp1252.cat").read_bytes())
    assert rejects.empty
    row = proposals.iloc[0]
    assert (row["proposal_id"], row["pi"], row["cycle"]) == ("777", "Ren\u00e9e", 9)
    assert row["abstract"] == "Dust in the caf\u00e9 \u2013 nebula."
    assert fallbacks == [{"record_id": "777", "line": 2, "legacy_bytes": 4}]


def test_one_stray_cp1252_byte_affects_only_its_own_characters():
    """A UTF-8 catalogue with one cp1252 byte: the other records (and the UTF-8 around the odd byte) stay
    UTF-8, and the record that needed the fallback is reported with its line."""
    proposals, rejects, fallbacks = parse_abstracts((DATA / "abstracts_mixed.cat").read_bytes())
    p = proposals.set_index("proposal_id")
    assert p.loc["14001", "pi"] == "Jos\u00e9 Mu\u00f1oz"
    assert p.loc["14003", "pi"] == "Fran\u00e7oise L\u00e9v\u00eaque"
    assert p.loc["14002", "pi"] == "Zo\u00eb \u00c5ngstr\u00f6m"
    assert p.loc["14002", "abstract"] == "Dust grains in the Orion Nebula \u2013 a UTF-8 caf\u00e9 next to a legacy byte."
    assert fallbacks == [{"record_id": "14002", "line": 11, "legacy_bytes": 1}]
    assert list(rejects["record_id"]) == ["record#3@line29"]


def test_decode_record_keeps_utf8_and_reads_odd_bytes_as_cp1252():
    assert decode_record("Ren\u00e9e".encode()) == ("Ren\u00e9e", 0)
    assert decode_record(b"caf\xe9 \x96 \xc3\xa9 \x81") == ("caf\u00e9 \u2013 \u00e9 \x81", 3)  # 0x81: latin-1


def test_reject_ids_and_details_carry_the_line_number(parsed):
    rejects = parsed.rejects
    by_reason = rejects.set_index("reason")
    assert by_reason.loc["no_fields", "record_id"] == "record#5@line53"  # the stray text's line
    assert by_reason.loc["no_fields", "detail"].startswith("line 53: ")
    assert by_reason.loc["duplicate_id", "detail"] == (
        "line 56: proposal 13495: ID already seen at line 2; first kept")
    assert rejects["detail"].str.match(r"line \d+: ").all()


def test_empty_catalogue_gives_empty_tables():
    proposals, rejects, fallbacks = parse_abstracts("")
    assert proposals.empty and rejects.empty and fallbacks == []
    assert list(proposals.columns) == [c.name for c in PROPOSALS if c.required]


def test_the_job_reports_decode_fallbacks(tmp_path, capsys):
    import hst_abstracts

    download = {"workers": 1, "timeout_s": 5, "retries": 0, "backoff_s": 0, "backoff_max_s": 0}
    summary = hst_abstracts.main(str(DATA / "abstracts_mixed.cat"), download, str(tmp_path / "p.parquet"),
                                 str(tmp_path / "r.parquet"))
    assert summary == {"proposals": 3, "rejected": 1, "decode_fallback": 1}
    out = capsys.readouterr().out
    assert "decode_fallback=1" in out and "14002 (line 11, 1 bytes)" in out
