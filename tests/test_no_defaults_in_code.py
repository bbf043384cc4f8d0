"""The schema is the only home of config defaults: no `.get("<config key>", default)` in the library or scripts."""

import re

from conftest import ROOT
from skytext.core.config import load_schema


def _keys(schema: dict, objects: bool = False) -> set[str]:
    """Every key in the schema (``objects``: only keys whose value is a section, i.e. has properties)."""
    out = set()
    for key, sub in schema.get("properties", {}).items():
        if not objects or "properties" in sub:
            out.add(key)
        out |= _keys(sub, objects)
        if isinstance(sub.get("items"), dict):
            out |= _keys(sub["items"], objects)
    return out


# names code gives a config section it was handed; plus every section's own name (``hst``, ``train``, ...)
CONFIG_NAMES = {"cfg", "config", "conf", "params", "section", "settings", "options", "opts"}


def test_no_config_key_is_read_with_a_default_in_code():
    schema = load_schema()
    keys, receivers = _keys(schema), CONFIG_NAMES | _keys(schema, objects=True)
    found = []
    for path in sorted((ROOT / "workflow" / "scripts").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for recv, key in re.findall(r"(\w+)(?:\[[^\]]*\])*\.get\(\s*[\"']([A-Za-z_][\w-]*)[\"']\s*,", line):
                if key in keys and recv in receivers:
                    found.append(f"{path.relative_to(ROOT)}:{lineno}: .get({key!r}, ...)")
    assert not found, "config defaults written in code (the schema is their only home):\n" + "\n".join(found)
