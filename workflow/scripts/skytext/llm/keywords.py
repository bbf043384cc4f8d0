"""The ``keywords`` backend: an offline, deterministic summariser filling the summary schema from a shipped
astronomy vocabulary (``resources/vocab/astro_terms.yaml``) -- the no-LLM baseline.

Each canonical phrase in the vocabulary is scored by how often any of its variants occurs in the title and
abstract; the top :data:`~skytext.llm.schema.MAX_ITEMS` per list (most mentions first, then earliest mention)
become the summary. A proposal with no object match falls back to its science category; one with no use-case
match is rejected (``no_vocabulary_match``), never padded with guesses.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from skytext.llm.schema import FIELDS, MAX_ITEMS, SchemaViolation, validate_summary


def _variant_pattern(phrase: str) -> re.Pattern[str]:
    """Regex for one phrase: words separated by spaces or hyphens, optional plural ending; ALL-CAPS acronyms
    are matched with their case, everything else case-insensitively."""
    words = phrase.replace("-", " ").split()
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    acronym = len(phrase) >= 2 and phrase.isupper() and " " not in phrase
    return re.compile(rf"(?<![\w-]){body}(?:s|es)?(?![\w-])", 0 if acronym else re.IGNORECASE)


@dataclass(frozen=True)
class Vocabulary:
    version: str
    sha: str
    terms: dict[str, list[tuple[str, list[re.Pattern[str]]]]]  # field -> [(canonical, patterns)]

    @property
    def model(self) -> str:
        """What the summaries table records as the model of this backend."""
        return f"keywords:{self.version}:{self.sha}"


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read the vocabulary YAML; raise ``ValueError`` naming the file when a list is missing."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    terms = {}
    for field in FIELDS:
        entries = data.get(field)
        if not isinstance(entries, dict) or not entries:
            raise ValueError(f"vocabulary {path}: missing mapping {field!r}")
        terms[field] = [(canon, [_variant_pattern(v) for v in [canon, *(variants or [])]])
                        for canon, variants in entries.items()]
    return Vocabulary(str(data.get("version", "unversioned")), hashlib.sha256(text.encode()).hexdigest()[:8], terms)


def _rank(text: str, terms: list[tuple[str, list[re.Pattern[str]]]]) -> list[str]:
    scored = []
    for canon, patterns in terms:
        hits = [m.start() for p in patterns for m in p.finditer(text)]
        if hits:
            scored.append((-len(hits), min(hits), canon))
    return [canon for _, _, canon in sorted(scored)[:MAX_ITEMS]]


def keyword_summary(vocab: Vocabulary, title: str, category: str, abstract: str) -> dict[str, list[str]]:
    """The summary of one proposal; raises :class:`SchemaViolation` (``no_vocabulary_match``) when the
    text matches no use case."""
    text = f"{title}. {abstract}"
    out = {field: _rank(text, vocab.terms[field]) for field in FIELDS}
    if not out["objects_and_phenomena"] and category.strip():
        out["objects_and_phenomena"] = [category.strip().lower()]
    empty = [f for f in FIELDS if not out[f]]
    if empty:
        raise SchemaViolation("no_vocabulary_match", f"no vocabulary term for {', '.join(empty)}")
    return validate_summary(out)
