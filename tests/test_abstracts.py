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
    assert reasons["ABC12@line43"] == "bad_id"
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


def test_the_job_writes_decode_fallbacks_into_its_run_summary(tmp_path, capsys):
    """Issue 22 item 20: the fallbacks are in the run summary file (and the log), not only the log."""
    import json

    from skytext.sources.abstracts import run_abstracts

    download = {"workers": 1, "timeout_s": 5, "retries": 0, "backoff_s": 0, "backoff_max_s": 0}
    out = {k: str(tmp_path / f"{k}") for k in ("p.parquet", "r.parquet", "run.json")}
    summary = run_abstracts(str(DATA / "abstracts_mixed.cat"), download, *out.values())
    assert summary == json.loads(Path(out["run.json"]).read_text())
    assert summary["decode_fallbacks"] == [{"record_id": "14002", "line": 11, "legacy_bytes": 1}]
    assert (summary["proposals"], summary["rejected"], summary["decode_fallback"]) == (3, 1, 1)
    assert summary["reject_reasons"] == {"bad_id": 1}
    assert len(pd.read_parquet(out["p.parquet"])) == 3 and len(pd.read_parquet(out["r.parquet"])) == 1
    log = capsys.readouterr().out
    assert "decode_fallback=1" in log and "14002 (line 11, 1 bytes)" in log


def test_garbage_under_a_valid_header_is_rejected_with_its_line_not_kept_as_mojibake():
    """Issue 22 item 20: random bytes, UTF-16 text and bytes of no known encoding under valid headers are
    ``undecodable``; numbers or a base64 blob as the abstract are ``not_text``; each detail names the line of
    the first bad character or of the abstract. Real text with a cp1252 accent is still kept (and listed)."""
    proposals, rejects, fallbacks = parse_abstracts((DATA / "abstracts_garbage.cat").read_bytes())
    assert list(proposals["proposal_id"]) == ["20001", "20005"]
    assert proposals.set_index("proposal_id").loc["20005", "pi"] == "Ren\u00e9e Dupont"
    assert fallbacks == [{"record_id": "20005", "line": 40, "legacy_bytes": 2}]
    got = dict(zip(rejects["record_id"], zip(rejects["reason"], rejects["detail"])))
    assert {k: r for k, (r, _) in got.items()} == {
        "20002": "undecodable", "20003": "undecodable", "20007": "undecodable", "20004": "not_text",
        "20006": "not_text", "XYZ@line58": "bad_id"}
    assert got["20002"][1].startswith("line 11: proposal 20002: ") and "on line 18" in got["20002"][1]
    assert "U+0000, on line 29" in got["20003"][1]
    assert "(from line 74)" in got["20007"][1]
    assert got["20004"][1].startswith("line 31: proposal 20004: the abstract (from line 38) is not text")
    assert got["XYZ@line58"][1] == "line 58: record 6: ID 'XYZ' is not an integer"
    assert not any("\ufffd" in a or "\x00" in a for a in proposals["abstract"])


def test_a_stray_control_character_or_two_is_tolerated():
    """Two NUL bytes in an otherwise fine abstract do not reject it (they become spaces)."""
    cat = ("-----\nID: 31\nTitle: T\nPI: P\n\nA fine abstract\x00 with two\x00 stray NUL bytes in it.\n")
    proposals, rejects, _ = parse_abstracts(cat)
    assert rejects.empty and proposals.iloc[0]["abstract"] == "A fine abstract with two stray NUL bytes in it."
