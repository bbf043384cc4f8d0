"""The engine's import graph: no cycle anywhere under skytext (function-level imports count too), and each
layer imports only the layers below it (docs/architecture.md)."""

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PKG = ROOT / "workflow" / "scripts" / "skytext"
# layer -> the skytext packages it may import besides itself (study packages and the app sit on top)
ALLOWED = {
    "core": set(),
    "sources": {"core"},
    "llm": {"core"},
    "align": {"core"},
    "eval": {"core", "align"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts}


def resolve(name: str) -> str | None:
    """The skytext module an import of ``name`` loads (its longest existing prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(mod: str) -> set[str]:
    """Every skytext module ``mod`` imports, at any depth of its code."""
    path = MODULES[mod]
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    # a `if __name__ == "__main__":` block runs only when the file is a script (python -m), never on import
    tree.body = [n for n in tree.body if not (isinstance(n, ast.If) and ast.unparse(n.test) == "__name__ == '__main__'")]
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            target = resolve(name) if name.startswith("skytext") else None
            if target and target != mod:
                out.add(target)
    return out


GRAPH = {m: imports_of(m) for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_imports():
    assert sum(len(t) for t in GRAPH.values()) > 100, "the walk found almost no imports"
    assert resolve("skytext.core.split.split_by_group") == "skytext.core.split"
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycle():
    found = cycles(GRAPH)
    assert not found, "import cycles under skytext:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below(layer):
    bad = []
    for mod, targets in GRAPH.items():
        parts = mod.split(".")
        if len(parts) < 2 or parts[1] != layer:
            continue
        for t in targets:
            other = t.split(".")[1] if t.count(".") else None
            if other and other != layer and other not in ALLOWED[layer]:
                bad.append(f"{mod} imports {t}")
    assert not bad, f"{layer} may import only {sorted(ALLOWED[layer]) or 'nothing else from skytext'}:\n" + "\n".join(bad)
