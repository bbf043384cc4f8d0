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
* whitespace (paragraph breaks included) is collapsed to single spaces, text is Unicode-NFC normalised;
* records without a numeric ID, without an abstract, or repeating an earlier ID are rejected with a reason.

Encoding: the catalogue is decoded **record by record** (a leading UTF-8 BOM is dropped). A record that is
valid UTF-8 is read as UTF-8; in a record that is not, the bytes that are not valid UTF-8 are read as cp1252
(latin-1 for the five bytes cp1252 leaves undefined) and the valid UTF-8 around them stays UTF-8. One stray
legacy byte therefore affects at most its own characters, never the rest of the file. Every record that
needed the fallback is listed in :attr:`Catalogue.decode_fallbacks` (``record_id``, ``line``,
``legacy_bytes``) so the run can report it.

Line numbers are 1-based physical lines of the catalogue file (``\\n``, ``\\r\\n`` or ``\\r`` ends a line);
a record's line is that of its first non-blank line. A rejected record without a usable ID is named
``record#<i>@line<n>`` (``i``: 0-based index among the non-empty records, ``n``: its line), e.g.
``record#5@line57``; every reject's ``detail`` starts with ``line <n>:``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

from skytext.core.contracts import PROPOSALS, conform, empty, rejects_frame

STAGE = "hst_abstracts"

_SEPARATOR = re.compile(rb"^\s*-{5,}\s*$")
_BOM = b"\xef\xbb\xbf"
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


class Catalogue(NamedTuple):
    """What :func:`parse_abstracts` returns."""

    proposals: pd.DataFrame  # contract PROPOSALS
    rejects: pd.DataFrame  # contract REJECTS
    decode_fallbacks: list[dict]  # one per record not valid UTF-8: record_id, line, legacy_bytes


@dataclass
class _Raw:
    """One record's text lines, as decoded, with where it starts in the file."""

    index: int
    line: int
    lines: list[str]
    legacy_bytes: int


@dataclass
class _Record:
    index: int
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    abstract: list[str] = field(default_factory=list)
    text_lines: int = 0

    @property
    def fallback_id(self) -> str:
        return f"record#{self.index}@line{self.line}"


def _legacy_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D
        return chr(byte)  # latin-1


def decode_record(data: bytes) -> tuple[str, int]:
    """``(text, legacy_bytes)``: ``data`` as UTF-8, with every byte that is not valid UTF-8 read as cp1252
    (latin-1 where cp1252 has no character); ``legacy_bytes`` counts those bytes (0: plain UTF-8)."""
    parts: list[str] = []
    legacy = pos = 0
    while True:
        try:
            parts.append(data[pos:].decode("utf-8"))
            return "".join(parts), legacy
        except UnicodeDecodeError as exc:
            start, end = pos + exc.start, pos + exc.end
            parts.append(data[pos:start].decode("utf-8"))
            parts.append("".join(_legacy_char(b) for b in data[start:end]))
            legacy += end - start
            pos = end


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\x00", " ")
    return re.sub(r"\s+", " ", text).strip()


def _split_records(data: bytes) -> list[_Raw]:
    """The non-empty records between separator lines, each decoded on its own."""
    chunks: list[tuple[int, list[bytes]]] = [(1, [])]
    for number, line in enumerate(data.removeprefix(_BOM).splitlines(), start=1):
        if _SEPARATOR.match(line):
            chunks.append((number + 1, []))
        else:
            chunks[-1][1].append(line)
    records: list[_Raw] = []
    for first, lines in chunks:
        blank = [not line.strip() for line in lines]
        if all(blank):
            continue
        text, legacy = decode_record(b"\n".join(lines))
        records.append(_Raw(len(records), first + blank.index(False), text.split("\n"), legacy))
    return records


def _parse_record(raw: _Raw) -> _Record:
    rec = _Record(raw.index, raw.line)
    last: str | None = None
    in_abstract = False
    after_blank = False
    for line in raw.lines:
        line = line.rstrip()
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


def _row(pid: str, rec: _Record, abstract: str) -> dict:
    cycle_txt = _clean(rec.fields.get("cycle", ""))
    return {
        "proposal_id": pid,
        "title": _clean(rec.fields.get("title", "")),
        "category": _clean(rec.fields.get("category", "")),
        "cycle": int(cycle_txt) if re.fullmatch(r"\d+", cycle_txt) else None,
        "pi": _clean(rec.fields.get("pi", "")),
        "prop_type": _clean(rec.fields.get("prop_type", "")),
        "abstract": abstract,
    }


def parse_abstracts(data: bytes | str) -> Catalogue:
    """Parse the catalogue (its bytes, or text) into :class:`Catalogue` ``(proposals, rejects,
    decode_fallbacks)``; the tables follow the contracts PROPOSALS and REJECTS.

    ``proposal_id`` is the integer ID as a string (``"12345"``); ``cycle`` is nullable. Text is taken as
    UTF-8, so it never needs a fallback.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    rows: list[dict] = []
    rejects: list[dict] = []
    fallbacks: list[dict] = []
    first_seen: dict[str, int] = {}
    for raw in _split_records(data):
        rec = _parse_record(raw)
        raw_id = _clean(rec.fields.get("proposal_id", ""))
        record_id = str(int(raw_id)) if re.fullmatch(r"\d+", raw_id) else raw_id or rec.fallback_id
        if raw.legacy_bytes:
            fallbacks.append({"record_id": record_id, "line": rec.line, "legacy_bytes": raw.legacy_bytes})

        def reject(reason: str, detail: str) -> None:
            rejects.append({"record_type": "proposal", "record_id": record_id, "stage": STAGE, "reason": reason,
                            "detail": f"line {rec.line}: {detail}"})

        if not rec.fields:
            reject("no_fields", f"record {rec.index}: no header fields found ({rec.text_lines} text lines)")
            continue
        if not re.fullmatch(r"\d+", raw_id):
            reject("bad_id", f"record {rec.index}: ID {raw_id!r} is not an integer")
            continue
        abstract = _clean(" ".join(rec.abstract))
        if not abstract:
            reject("no_abstract", f"proposal {record_id}: record has no abstract text")
            continue
        if record_id in first_seen:
            reject("duplicate_id", f"proposal {record_id}: ID already seen at line {first_seen[record_id]}; "
                                   "first kept")
            continue
        first_seen[record_id] = rec.line
        rows.append(_row(record_id, rec, abstract))
    proposals = conform(pd.DataFrame(rows), PROPOSALS, "proposals") if rows else empty(PROPOSALS)
    return Catalogue(proposals, rejects_frame(rejects), fallbacks)
