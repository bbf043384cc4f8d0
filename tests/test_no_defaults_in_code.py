"""The schema is the only home of config defaults: no library signature and no `.get(key, default)` repeats one.

Both checks read the code's syntax trees (not lines): every function in ``workflow/scripts`` whose parameter
is named after a schema leaf (``batch_size``, ``device``, ``n_boot``, ``seed``, ...) must take it without a
default, so the value always comes from the config a rule passes, and no config section is read with a
fallback written in code.
"""

import ast
from pathlib import Path

import pytest

from conftest import ROOT
from skytext.core.config import load_schema

CODE = ROOT / "workflow" / "scripts"
# names code gives a config section it was handed
CONFIG_NAMES = {"cfg", "config", "conf", "params", "section", "settings", "options", "opts"}


def schema_leaves(node: dict, out: dict | None = None, in_items: bool = False) -> dict[str, bool]:
    """leaf name -> True when some leaf of that name sits outside list items (a setting, not a record field)."""
    out = {} if out is None else out
    for key, sub in node.get("properties", {}).items():
        if "properties" in sub and sub.get("type") == "object":
            schema_leaves(sub, out, in_items)
            continue
        out[key] = out.get(key, False) or not in_items
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in items:
            schema_leaves(items, out, True)
    return out


def section_names(node: dict, out: set | None = None) -> set[str]:
    """Names of every config section (keys whose value has properties)."""
    out = set() if out is None else out
    for key, sub in node.get("properties", {}).items():
        if "properties" in sub:
            out.add(key)
            section_names(sub, out)
        if isinstance(sub.get("items"), dict):
            section_names(sub["items"], out)
    return out


SCHEMA = load_schema()
SETTINGS = {k for k, outside in schema_leaves(SCHEMA).items() if outside}
# generic parameter names that happen to be schema leaves but never carry a setting in these functions
NOT_SETTINGS = {
    ("core/config.py", "defaults", "path"),  # a dotted key path into the schema, not a file path setting
}


def code_files():
    return sorted(p for p in CODE.rglob("*.py") if "__pycache__" not in p.parts)


def defaulted_params(fn: ast.FunctionDef) -> list[str]:
    """Names of the parameters of ``fn`` that have a default."""
    a = fn.args
    pos = [*a.posonlyargs, *a.args]
    names = [p.arg for p in pos[len(pos) - len(a.defaults):]]
    names += [p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
    return names


def test_the_leaf_walk_sees_known_settings():
    assert {"batch_size", "n_boot", "seed", "refine_below", "device"} <= SETTINGS


def test_no_schema_leaf_has_a_default_in_a_signature():
    found = []
    for path in code_files():
        rel = path.relative_to(CODE / "skytext").as_posix() if "skytext" in path.parts else path.name
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
                continue
            for name in defaulted_params(node):
                if name in SETTINGS and (rel, node.name, name) not in NOT_SETTINGS:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}({name}=...)")
    assert not found, "schema leaves with a default in code (pass them from the config):\n" + "\n".join(found)


def test_no_config_key_is_read_with_a_default_in_code():
    keys = set(schema_leaves(SCHEMA)) | section_names(SCHEMA)
    receivers = CONFIG_NAMES | section_names(SCHEMA)
    found = []
    for path in code_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"):
                continue
            if len(node.args) < 2 or not isinstance(node.args[0], ast.Constant) or node.args[0].value not in keys:
                continue
            recv = node.func.value
            while isinstance(recv, ast.Subscript):
                recv = recv.value
            name = recv.id if isinstance(recv, ast.Name) else recv.attr if isinstance(recv, ast.Attribute) else ""
            if name in receivers:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .get({node.args[0].value!r}, ...)")
    assert not found, "config defaults written in code (the schema is their only home):\n" + "\n".join(found)


@pytest.mark.parametrize("source, expected", [
    ("def f(batch_size=64): pass", ["batch_size"]),
    ("def f(x, *, device='cpu'): pass", ["device"]),
    ("def f(batch_size): pass", []),
])
def test_the_signature_walk_finds_defaults(source, expected):
    fn = ast.parse(source).body[0]
    assert [n for n in defaulted_params(fn) if n in SETTINGS] == expected
