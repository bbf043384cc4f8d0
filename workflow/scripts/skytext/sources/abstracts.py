"""Parse the STScI HST proposal-abstracts catalogue into the PROPOSALS table.

The catalogue is plain text. Records are separated by lines of dashes; each record starts with header
fields and ends with the abstract body::

    ----------------------------------------------------------------
    Prop. Type: GO
    Category:   Galaxies
    ID:         12345
    Cycle:      20
    Title:      A long title that may
                wrap onto a second line
    PI:         Jane Doe

    The abstract, one or more paragraphs ...

Parsing rules (robust to the oddities of a catalogue assembled over 30 years):

* a header field is ``<name>:`` at the start of a line, matched case-insensitively with flexible spaces
  (``Prop.Type:``, ``PROP. TYPE :``); once the abstract has started, such lines stay abstract text;
* a non-field line continues the previous header field (a wrapped title) unless it follows ``PI:`` or a
  blank line, in which case the abstract starts there; text before the first field is ignored;
* whitespace (paragraph breaks included) is collapsed to single spaces, text is Unicode-NFC normalised; bytes that are not UTF-8 are read as cp1252;
* records without a numeric ID, without an abstract, or repeating an earlier ID are rejected with a reason.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import pandas as pd

from skytext.core.contracts import PROPOSALS, conform, empty, rejects_frame

STAGE = "hst_abstracts"

_SEPARATOR = re.compile(r"^\s*-{5,}\s*$")
_FIELDS = {
    "prop_type": r"prop\.?\s*type",
    "category": r"category",
    "proposal_id": r"id",
    "cycle": r"cycle",
    "title": r"title",
    "pi": r"pi",
}
_FIELD_LINE = re.compile(
    r"^\s*(?P<name>" + "|".join(f"(?P<{k}>{v})" for k, v in _FIELDS.items()) + r")\s*:\s?(?P<value>.*)$",
    re.IGNORECASE,
)


@dataclass
class _Record:
    index: int
    fields: dict[str, str] = field(default_factory=dict)
    abstract: list[str] = field(default_factory=list)
    text_lines: int = 0


def decode_catalogue(data: bytes) -> str:
    """Bytes of the catalogue as text: UTF-8 (with or without BOM), else cp1252, else latin-1."""
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\x00", " ")
    return re.sub(r"\s+", " ", text).strip()


def _split_records(text: str) -> list[list[str]]:
    records: list[list[str]] = [[]]
    for line in text.splitlines():
        if _SEPARATOR.match(line):
            records.append([])
        else:
            records[-1].append(line)
    return [r for r in records if any(line.strip() for line in r)]


def _parse_record(index: int, lines: list[str]) -> _Record:
    rec = _Record(index)
    last: str | None = None
    in_abstract = False
    after_blank = False
    for raw in lines:
        line = raw.rstrip()
        if not line.strip():
            after_blank = last is not None
            continue
        rec.text_lines += 1
        m = None if in_abstract else _FIELD_LINE.match(line)
        if m:
            key = next(k for k in _FIELDS if m.group(k) is not None)
            rec.fields[key] = m.group("value")
            last, after_blank = key, False
        elif last is None:  # text before the first header field: not part of any field
            continue
        elif in_abstract or last == "pi" or after_blank:
            in_abstract = True
            rec.abstract.append(line.strip())
        else:  # a wrapped header field
            rec.fields[last] = rec.fields.get(last, "") + " " + line.strip()
    return rec


def parse_abstracts(text: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse catalogue text into ``(proposals, rejects)`` tables (contracts PROPOSALS and REJECTS).

    ``proposal_id`` is the integer ID as a string (``"12345"``); ``cycle`` is nullable.
    """
    rows: list[dict] = []
    rejects: list[dict] = []
    seen: set[str] = set()
    for i, lines in enumerate(_split_records(text)):
        rec = _parse_record(i, lines)
        raw_id = _clean(rec.fields.get("proposal_id", ""))
        record_id = raw_id or f"record#{i}"

        def reject(reason: str, detail: str) -> None:
            rejects.append(
                {"record_type": "proposal", "record_id": record_id, "stage": STAGE, "reason": reason, "detail": detail}
            )

        if not rec.fields:
            reject("no_fields", f"record {i}: no header fields found ({rec.text_lines} text lines)")
            continue
        if not re.fullmatch(r"\d+", raw_id):
            reject("bad_id", f"record {i}: ID {raw_id!r} is not an integer")
            continue
        pid = str(int(raw_id))
        record_id = pid
        abstract = _clean(" ".join(rec.abstract))
        if not abstract:
            reject("no_abstract", f"proposal {pid}: record has no abstract text")
            continue
        if pid in seen:
            reject("duplicate_id", f"proposal {pid}: ID already seen earlier in the catalogue; first kept")
            continue
        seen.add(pid)
        cycle_txt = _clean(rec.fields.get("cycle", ""))
        cycle = int(cycle_txt) if re.fullmatch(r"\d+", cycle_txt) else None
        rows.append(
            {
                "proposal_id": pid,
                "title": _clean(rec.fields.get("title", "")),
                "category": _clean(rec.fields.get("category", "")),
                "cycle": cycle,
                "pi": _clean(rec.fields.get("pi", "")),
                "prop_type": _clean(rec.fields.get("prop_type", "")),
                "abstract": abstract,
            }
        )
    proposals = conform(pd.DataFrame(rows), PROPOSALS, "proposals") if rows else empty(PROPOSALS)
    return proposals, rejects_frame(rejects)
