"""docs/configuration.md, generated from the JSON schema: every key with its type, default and description.

Regenerate after a schema change (a test checks the file is in sync)::

    .venv/bin/python -m skytext.core.config_docs > docs/configuration.md
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterator

from skytext.core.config import load_schema

HEADER = """# Configuration reference

Generated from `workflow/schemas/` by `python -m skytext.core.config_docs` (do not edit by hand; a test checks it is in
sync). Every key is optional: its default is written once, in the schema. Set keys in `config.yaml` or on the
command line (`snakemake --cores all --config 'images={train: {steps: 300}}'`). Which settings rerun which rules:
see the README's *Reruns* table.
"""


def _type(node: dict) -> str:
    """A short type label of a schema node (``integer``, ``string | null``, ``list of string``, one of ...)."""
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    types = node.get("type", "any")
    label = " \\| ".join(types) if isinstance(types, list) else types
    if label == "array" and isinstance(node.get("items"), dict):
        items = node["items"]
        inner = "object" if "properties" in items else _type(items)
        return f"list of {inner}"
    return label


def _default(node: dict) -> str:
    """The default of a leaf, as compact JSON in backticks ('' where the node has none)."""
    if "default" not in node:
        return ""
    text = json.dumps(node["default"], ensure_ascii=False)
    return f"`{text}`".replace("|", "\\|")


def _describe(node: dict) -> str:
    """The node's description on one line, with its bounds."""
    bits = [" ".join(str(node.get("description", "")).split())]
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in node:
            bits.append(f"{sign} {node[key]}")
    return "; ".join(b for b in bits if b).replace("|", "\\|")


def rows(node: dict, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) for every leaf and list-of-objects under ``node``, in order."""
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        if "properties" in sub and sub.get("type") == "object":
            yield from rows(sub, f"{path}.")
            continue
        yield path, _type(sub), _default(sub), _describe(sub)
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in items:
            yield from rows(items, f"{path}[].")


def render(schema: dict[str, Any] | None = None) -> str:
    """The whole markdown page: shared keys first, then one section per study and per shared section."""
    schema = schema or load_schema()
    props = schema["properties"]
    studies = [s for s in props.get("studies", {}).get("default", []) if s in props]
    shared = {k: v for k, v in props.items() if k not in studies and "properties" not in v}
    sections = [k for k in props if k not in studies and k not in shared]
    out = [HEADER]
    groups = [("Shared keys", {"properties": shared}, "")]
    groups += [(f"`{k}`", props[k], f"{k}.") for k in sections]
    groups += [(f"Study `{k}`", props[k], f"{k}.") for k in studies]
    for title, node, prefix in groups:
        out.append(f"\n## {title}\n")
        desc = " ".join(str(node.get("description", "")).split())
        if desc:
            out.append(f"{desc}\n")
        out.append("| key | type | default | description |\n|---|---|---|---|")
        out.extend(f"| `{k}` | {t} | {d} | {s} |" for k, t, d, s in rows(node, prefix))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
