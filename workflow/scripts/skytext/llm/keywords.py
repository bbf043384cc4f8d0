"""The ``keywords`` backend: an offline, deterministic summariser filling the summary schema from a shipped
astronomy vocabulary (``resources/vocab/astro_terms.yaml``) -- the no-LLM baseline.

Matching, per summary list, on ``"<title>. <abstract>"``:

* every phrase of the list (variants, canonical phrases and, for objects, the ``named_objects``) is a
  whole-word pattern: hyphens read as spaces, each word may take its plural (``galaxy``/``galaxies``,
  ``nebula``/``nebulae``, ``spectrum``/``spectra``), words of capitals and digits (``AGN``, ``M31``) match
  with their case, the capitalised words of a proper name as written or in capitals, all else ignoring case;
* phrases are tried longest first (most words, then most characters) and a match consumes its text, so a
  shorter phrase inside it does not count again: ``Coma cluster`` is one galaxy-cluster mention, never a
  comet's coma; ``dark matter halo`` is dark matter, not a galaxy halo;
* each canonical phrase is scored by its number of mentions; the top :data:`~skytext.llm.schema.MAX_ITEMS`
  (most mentions first, then earliest mention) become the list.

A proposal with no object match falls back to its science category. The generic ``fallback_use_cases``
(``search for new objects``) count only when no science use case matched; with neither, the proposal is
rejected (``no_vocabulary_match``), never padded with guesses.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from skytext.llm.schema import FIELDS, MAX_ITEMS, SchemaViolation, validate_summary

OBJECTS, USE_CASES = FIELDS

# word ending (lower case) -> (letters the stem drops, the endings that may follow the stem)
_INFLECTIONS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    (r"[^aeiou]y", 1, ("y", "ies")),
    (r"us", 2, ("us", "i", "uses")),
    (r"um", 2, ("um", "a", "ums")),
    (r"ex", 2, ("ex", "ices", "exes")),
    (r"ix", 2, ("ix", "ices", "ixes")),
    (r"is", 2, ("is", "es")),
    (r"a", 0, ("", "e", "s")),
    (r"s|x|z|ch|sh", 0, ("", "es")),
    (r"", 0, ("", "s", "es")),
)


def _is_acronym(word: str) -> bool:
    """Capitals and digits, at least two characters: ``AGN``, ``HII``, ``M31``, ``H0`` (not ``O``, ``Ia``)."""
    return len(word) >= 2 and any(c.isupper() for c in word) and not any(c.islower() for c in word)


def _inflected(word: str) -> str:
    """Regex for ``word`` and its plural; endings take the case of the word's last letter."""
    for ending, cut, endings in _INFLECTIONS:
        if re.fullmatch(rf".*(?:{ending})", word.lower()):
            if word[-1:].isupper():
                endings = tuple(e.upper() for e in endings)
            return re.escape(word[: len(word) - cut]) + "(?:" + "|".join(endings) + ")"
    raise AssertionError("unreachable: the last rule matches every word")


def _word_pattern(word: str, proper_name: bool) -> str:
    if _is_acronym(word):
        return re.escape(word) + "(?:s|e)?"  # AGNs, SNe
    if proper_name and any(c.isupper() for c in word):
        return f"(?:{_inflected(word)}|{_inflected(word.upper())})"
    return f"(?i:{_inflected(word)})"


def phrase_pattern(phrase: str, proper_name: bool = False) -> re.Pattern[str]:
    """Whole-word regex for one vocabulary phrase (see the module docstring)."""
    words = phrase.replace("-", " ").split()
    body = r"[\s\-]+".join(_word_pattern(w, proper_name) for w in words)
    return re.compile(rf"(?<![\w-]){body}(?![\w-])")


@dataclass(frozen=True)
class Term:
    """One vocabulary phrase, the canonical term it stands for, and its compiled pattern."""

    canon: str  # what the summary says
    phrase: str  # what the text says
    pattern: re.Pattern[str]

    @property
    def size(self) -> tuple[int, int]:
        """(words, characters) of the phrase: longer phrases are matched first."""
        return len(self.phrase.replace("-", " ").split()), len(self.phrase)


@dataclass(frozen=True)
class Vocabulary:
    """The keywords backend's vocabulary: its version and hash, the terms per summary field, the fallbacks."""

    version: str
    sha: str
    terms: dict[str, list[Term]]  # field -> its terms, longest phrase first
    fallback_use_cases: list[Term]

    @property
    def model(self) -> str:
        """What the summaries table records as the model of this backend."""
        return f"keywords:{self.version}:{self.sha}"


def _terms(path: Path, section: str, entries, proper_names: bool = False) -> list[Term]:
    if not isinstance(entries, dict) or not entries:
        raise ValueError(f"vocabulary {path}: missing mapping {section!r}")
    return [Term(canon, phrase, phrase_pattern(phrase, proper_names))
            for canon, variants in entries.items()
            for phrase in ([] if proper_names else [canon]) + list(variants or [])]


def _sorted_unique(path: Path, section: str, terms: list[Term]) -> list[Term]:
    seen: dict[str, str] = {}
    for t in terms:
        key = " ".join(t.phrase.replace("-", " ").lower().split())
        if seen.setdefault(key, t.canon) != t.canon:
            raise ValueError(f"vocabulary {path}: {section}: {t.phrase!r} is listed under both "
                             f"{seen[key]!r} and {t.canon!r}")
    return sorted(terms, key=lambda t: t.size, reverse=True)


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read the vocabulary YAML; raise ``ValueError`` naming the file when a list is missing, a named object's
    class is not an object class, or one phrase stands for two canonical phrases of a list."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    terms = {field: _terms(path, field, data.get(field)) for field in FIELDS}
    named = data.get("named_objects") or {}
    unknown = sorted(set(named) - {t.canon for t in terms[OBJECTS]})
    if unknown:
        raise ValueError(f"vocabulary {path}: named_objects: {unknown[0]!r} is not a key of {OBJECTS}")
    if named:
        terms[OBJECTS] += _terms(path, "named_objects", named, proper_names=True)
    terms = {field: _sorted_unique(path, field, ts) for field, ts in terms.items()}
    fallback = data.get("fallback_use_cases")
    fallback = _sorted_unique(path, "fallback_use_cases", _terms(path, "fallback_use_cases", fallback)) if fallback else []
    return Vocabulary(str(data.get("version", "unversioned")), hashlib.sha256(text.encode()).hexdigest()[:8],
                      terms, fallback)


def mentions(text: str, terms: list[Term]) -> list[tuple[str, int]]:
    """``(canonical phrase, position)`` of every mention in ``text``; ``terms`` longest first, each match
    consuming its characters so no shorter phrase inside it counts."""
    taken = bytearray(len(text))
    found = []
    for term in terms:
        for m in term.pattern.finditer(text):
            start, end = m.span()
            if not any(taken[start:end]):
                taken[start:end] = b"\x01" * (end - start)
                found.append((term.canon, start))
    return found


def _rank(found: list[tuple[str, int]]) -> list[str]:
    counts = Counter(canon for canon, _ in found)
    first: dict[str, int] = {}
    for canon, pos in found:
        first[canon] = min(pos, first.get(canon, pos))
    return sorted(counts, key=lambda c: (-counts[c], first[c], c))[:MAX_ITEMS]


def keyword_summary(vocab: Vocabulary, title: str, category: str, abstract: str) -> dict[str, list[str]]:
    """The summary of one proposal; raises :class:`SchemaViolation` (``no_vocabulary_match``) when the
    text matches no use case."""
    text = f"{title}. {abstract}"
    out = {field: _rank(mentions(text, vocab.terms[field])) for field in FIELDS}
    if not out[USE_CASES]:
        out[USE_CASES] = _rank(mentions(text, vocab.fallback_use_cases))
    if not out[OBJECTS] and category.strip():
        out[OBJECTS] = [category.strip().lower()]
    empty = [f for f in FIELDS if not out[f]]
    if empty:
        raise SchemaViolation("no_vocabulary_match", f"no vocabulary term for {', '.join(empty)}")
    return validate_summary(out)
