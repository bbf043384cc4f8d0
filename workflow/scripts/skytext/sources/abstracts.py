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
* records without a numeric ID, without an abstract, or repeating an earlier ID are rejected with a reason;
* a record that is not readable text is rejected, never kept as mojibake: ``undecodable`` when it holds
  control characters, U+FFFD or unassigned code points (binary data, UTF-16, a cut gzip), or when most of its
  non-ASCII bytes are neither UTF-8 nor plausible cp1252 text; ``not_text`` when its abstract is not prose
  (fewer than half of its characters are letters, or most of it is runs of 40+ characters without a space).
  The detail names the line of the first offending character.

Encoding: the catalogue is decoded **record by record** (a leading UTF-8 BOM is dropped). A record that is
valid UTF-8 is read as UTF-8; in a record that is not, the bytes that are not valid UTF-8 are read as cp1252
(latin-1 for the five bytes cp1252 leaves undefined) and the valid UTF-8 around them stays UTF-8. One stray
legacy byte therefore affects at most its own characters, never the rest of the file. Every record that
needed the fallback is listed in :attr:`Catalogue.decode_fallbacks` (``record_id``, ``line``,
``legacy_bytes``) so the run can report it.

Line numbers are 1-based physical lines of the catalogue file (``\\n``, ``\\r\\n`` or ``\\r`` ends a line);
a record's line is that of its first non-blank line. A rejected record without a usable ID is named
``record#<i>@line<n>`` (``i``: 0-based index among the non-empty records, ``n``: its line), e.g.
``record#5@line57``; one whose ID is not an integer is ``<ID>@line<n>`` (``ABC12@line44``); every reject's
``detail`` starts with ``line <n>:``. :func:`run_abstracts` writes the tables and the run summary (counts,
reject reasons and every decoding fallback).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd

from skytext.core.contracts import PROPOSALS, REJECTS, conform, empty, rejects_frame, write_table
from skytext.sources.download import DownloadPolicy, fetch_text

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
    first_line: int  # the physical line of lines[0]
    n_bytes: int


@dataclass
class _Record:
    index: int
    line: int
    fields: dict[str, str] = field(default_factory=dict)
    abstract: list[str] = field(default_factory=list)
    text_lines: int = 0

    @property
    def fallback_id(self) -> str:
        """The reject id of a record without a usable ID: ``record#<i>@line<n>``."""
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


_SPACE = "\t\n\r\x0b\x0c"
_BAD_CATEGORIES = ("Cc", "Co", "Cn", "Cs")  # controls, private use, unassigned, surrogates


def _bad_char(ch: str) -> bool:
    return ch == "\ufffd" or (ch not in _SPACE and unicodedata.category(ch) in _BAD_CATEGORIES)


def unreadable(raw: _Raw) -> tuple[str, str] | None:
    """``(reason, detail)`` when a record is not readable text (``undecodable``), else ``None``.

    A stray control character or two is tolerated (NUL padding becomes a space); three or more, at least 0.5 %
    of the text, are not. Legacy bytes (not UTF-8) are fine in cp1252 text, where they are a few accents; when
    they are over a tenth of the record's bytes it is binary, or text in an encoding this parser cannot know.
    """
    bad = [(i, ch) for i, line in enumerate(raw.lines) for ch in line if _bad_char(ch)]
    n_chars = max(1, sum(len(line) for line in raw.lines))
    if len(bad) >= 3 and len(bad) >= 0.005 * n_chars:
        i, ch = bad[0]
        return "undecodable", (f"{len(bad)} control or undecodable characters in {n_chars} (the first, "
                               f"U+{ord(ch):04X}, on line {raw.first_line + i})")
    if raw.legacy_bytes >= 8 and raw.legacy_bytes > 0.1 * raw.n_bytes:
        i = next((i for i, line in enumerate(raw.lines) if any(ord(c) > 127 for c in line)), 0)
        return "undecodable", (f"{raw.legacy_bytes} of its {raw.n_bytes} bytes are not UTF-8 (from line "
                               f"{raw.first_line + i}): not text in a known encoding")
    return None


def not_prose(abstract: str) -> str | None:
    """Why an abstract is not prose (``None`` when it is): too few letters, or mostly runs without a space."""
    chars = "".join(abstract.split())
    if len(chars) < 20:
        return None
    letters = sum(ch.isalpha() for ch in chars)
    if letters < 0.5 * len(chars):
        return f"only {letters} of its {len(chars)} characters are letters"
    long_runs = sum(len(w) for w in abstract.split() if len(w) >= 40)
    if long_runs > 0.5 * len(chars):
        return f"{long_runs} of its {len(chars)} characters are in runs of 40+ without a space"
    return None


def _first_line_of(raw: _Raw, text: str) -> int:
    """The physical line where ``text``'s first word appears in the record (its first line if not found)."""
    word = text.split()[0] if text.split() else ""
    return next((raw.first_line + i for i, line in enumerate(raw.lines) if word and word in line), raw.line)


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
        data_ = b"\n".join(lines)
        text, legacy = decode_record(data_)
        records.append(_Raw(len(records), first + blank.index(False), text.split("\n"), legacy, first,
                            len(data_)))
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
        ok_id = re.fullmatch(r"\d+", raw_id) is not None
        record_id = str(int(raw_id)) if ok_id else f"{raw_id[:40]}@line{rec.line}" if raw_id else rec.fallback_id

        def reject(reason: str, detail: str) -> None:
            """Reject the record, its detail prefixed with its line."""
            rejects.append({"record_type": "proposal", "record_id": record_id, "stage": STAGE, "reason": reason,
                            "detail": f"line {rec.line}: {detail}"})

        if not rec.fields:
            reject("no_fields", f"record {rec.index}: no header fields found ({rec.text_lines} text lines)")
            continue
        problem = unreadable(raw)
        if problem:
            reject(problem[0], f"{f'proposal {record_id}' if ok_id else f'record {rec.index}'}: {problem[1]}")
            continue
        if raw.legacy_bytes:
            fallbacks.append({"record_id": record_id, "line": rec.line, "legacy_bytes": raw.legacy_bytes})
        if not ok_id:
            reject("bad_id", f"record {rec.index}: ID {raw_id!r} is not an integer")
            continue
        abstract = _clean(" ".join(rec.abstract))
        if not abstract:
            reject("no_abstract", f"proposal {record_id}: record has no abstract text")
            continue
        why = not_prose(abstract)
        if why:
            reject("not_text", f"proposal {record_id}: the abstract (from line {_first_line_of(raw, rec.abstract[0])}) "
                               f"is not text: {why}")
            continue
        if record_id in first_seen:
            reject("duplicate_id", f"proposal {record_id}: ID already seen at line {first_seen[record_id]}; "
                                   "first kept")
            continue
        first_seen[record_id] = rec.line
        rows.append(_row(record_id, rec, abstract))
    proposals = conform(pd.DataFrame(rows), PROPOSALS, "proposals") if rows else empty(PROPOSALS)
    return Catalogue(proposals, rejects_frame(rejects), fallbacks)


def run_summary(cat: Catalogue) -> dict:
    """The run summary of a parsed catalogue: counts, reject reasons, and every record read with the fallback."""
    rej = cat.rejects
    return {"proposals": int(len(cat.proposals)), "rejected": int(len(rej)),
            "reject_reasons": {str(k): int(v) for k, v in rej["reason"].value_counts().sort_index().items()},
            "decode_fallback": len(cat.decode_fallbacks), "decode_fallbacks": list(cat.decode_fallbacks)}


def run_abstracts(url: str, download: dict, out_proposals: str, out_rejects: str, out_summary: str) -> dict:
    """Fetch and parse the catalogue at ``url``; write the proposals, rejects and run summary (JSON); return
    the summary (also printed, for the log)."""
    cat = parse_abstracts(fetch_text(url, DownloadPolicy.from_config(download)))
    summary = run_summary(cat)
    print(f"{url}: proposals={summary['proposals']}, rejected={summary['rejected']} {summary['reject_reasons']}, "
          f"decode_fallback={summary['decode_fallback']}")
    if cat.decode_fallbacks:
        where = ", ".join(f"{f['record_id']} (line {f['line']}, {f['legacy_bytes']} bytes)"
                          for f in cat.decode_fallbacks)
        print(f"records not valid UTF-8, their odd bytes read as cp1252: {where}")
    write_table(cat.proposals, out_proposals, PROPOSALS, "proposals")
    write_table(cat.rejects, out_rejects, REJECTS, "proposal_rejects")
    Path(out_summary).parent.mkdir(parents=True, exist_ok=True)
    Path(out_summary).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary
