"""The structured summary of a proposal abstract: its JSON schema, and local validation against it.

The same schema is sent to the server as ``response_format`` (OpenAI structured outputs, or guided decoding
in vLLM/Ollama) and checked here with :mod:`jsonschema`, because an OpenAI-compatible server may ignore
``response_format`` or fail to honour it. Local checks add what a JSON schema portable across servers does
not say: items are non-blank and not repeated.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

FIELDS = ("objects_and_phenomena", "science_use_cases")
MAX_ITEMS = 5

_LIST = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_ITEMS,
    "items": {"type": "string"},
}

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(FIELDS),
    "properties": {
        "objects_and_phenomena": {
            **_LIST,
            "description": "Classes of astronomical objects and phenomena studied (not named instances).",
        },
        "science_use_cases": {
            **_LIST,
            "description": "What the observations are used to measure or test.",
        },
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(SUMMARY_SCHEMA)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class SchemaViolation(ValueError):
    """A model answer that is not valid JSON (``reason='invalid_json'``) or not a valid summary
    (``reason='schema_violation'``)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def response_format(name: str = "proposal_summary") -> dict[str, Any]:
    """The ``response_format`` argument of ``chat.completions.create`` for :data:`SUMMARY_SCHEMA`."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": SUMMARY_SCHEMA}}


def parse_summary(content: str | None) -> dict[str, list[str]]:
    """Parse and validate a model answer; return ``{field: [items]}`` with items stripped.

    A single surrounding Markdown code fence is tolerated (servers without guided decoding add one).
    Raises :class:`SchemaViolation`.
    """
    if content is None or not content.strip():
        raise SchemaViolation("invalid_json", "empty answer")
    m = _FENCE.match(content)
    text = m.group(1) if m else content
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaViolation("invalid_json", str(exc)) from exc
    return validate_summary(obj)


def validate_summary(obj: Any) -> dict[str, list[str]]:
    """Check ``obj`` against :data:`SUMMARY_SCHEMA` plus non-blank, unique items; return it cleaned."""
    errors = sorted(_VALIDATOR.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise SchemaViolation("schema_violation", f"{where}: {e.message}"[:300])
    out: dict[str, list[str]] = {}
    for field in FIELDS:
        items = [" ".join(s.split()) for s in obj[field]]
        if any(not s for s in items):
            raise SchemaViolation("schema_violation", f"{field}: blank item")
        lowered = [s.lower() for s in items]
        if len(set(lowered)) != len(lowered):
            raise SchemaViolation("schema_violation", f"{field}: repeated item")
        out[field] = items
    return out
