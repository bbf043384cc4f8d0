"""Every module and every public function, class and method of the engine has a docstring whose first line says
what it returns or does (as scikit-learn's public-API tests ask of theirs)."""

import ast

from conftest import ROOT

CODE = ROOT / "workflow" / "scripts"


def public_defs(tree: ast.Module):
    """(qualified name, node) of the public functions, classes and methods of a module."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield node.name, node
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and not sub.name.startswith("_"):
                    yield f"{node.name}.{sub.name}", sub


def missing_docstrings() -> list[str]:
    out = []
    for path in sorted(CODE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(ROOT)
        if not (ast.get_docstring(tree) or "").strip():
            out.append(f"{rel}: module")
        if path.parent == CODE:
            continue  # entry scripts: their docstring says which rule they serve
        for name, node in public_defs(tree):
            if not (ast.get_docstring(node) or "").strip():
                out.append(f"{rel}:{node.lineno} {name}")
    return out


def test_every_public_function_and_module_has_a_docstring():
    found = missing_docstrings()
    assert not found, f"{len(found)} without a docstring:\n" + "\n".join(found)
