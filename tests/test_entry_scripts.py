"""One entry-script convention for every rule (docs/architecture.md, "Entry scripts").

A rule's script is ``workflow/scripts/<rule>.py``: a docstring, imports, and one block::

    if "snakemake" in globals():
        with log_to(snakemake.log[0]):
            library_function(name=snakemake.input.x, other=snakemake.params.y, ...)

that calls one function imported from ``skytext`` with plain values read off the ``snakemake`` object and
nothing else, so all the logic sits where a unit test can import it.
"""

import ast
import re

import pytest

from conftest import ROOT

SCRIPTS = ROOT / "workflow" / "scripts"
RULES = ROOT / "workflow" / "rules"
GLUE_ROOTS = {"input", "output", "params", "log", "wildcards", "threads", "resources"}
WRAPPERS = {"list", "str", "int", "float", "Path", "dict"}


def rule_scripts() -> dict[str, str]:
    """rule name -> the script file name its ``script:`` directive names."""
    out = {}
    for smk in sorted(RULES.rglob("*.smk")):
        rule = None
        for line in smk.read_text().splitlines():
            m = re.match(r"\s*rule (\w+):", line)
            if m:
                rule = m.group(1)
                continue
            m = re.match(r'\s*"(?:\.\./)+scripts/(\w+\.py)"', line)
            if m and rule:
                out[rule] = m.group(1)
    return out


def entry_scripts():
    return sorted(p for p in SCRIPTS.glob("*.py"))


def test_every_rule_script_is_named_after_its_rule():
    bad = [f"rule {r} runs {s}" for r, s in rule_scripts().items() if s != f"{r}.py"]
    assert not bad, "entry scripts must be named after their rule:\n" + "\n".join(bad)


def test_every_entry_script_belongs_to_a_rule():
    used = set(rule_scripts().values())
    orphans = [p.name for p in entry_scripts() if p.name not in used]
    assert not orphans, f"scripts no rule runs: {orphans}"


def _glue_value(node: ast.AST) -> bool:
    """A plain value read off the snakemake object (``snakemake.input.x``, ``snakemake.threads``, ...)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in WRAPPERS:
        return len(node.args) == 1 and not node.keywords and _glue_value(node.args[0])
    chain = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            chain.append(node.attr)
        else:
            if not isinstance(node.slice, ast.Constant):
                return False
            chain.append(node.slice.value)
        node = node.value
    if not (isinstance(node, ast.Name) and node.id == "snakemake"):
        return False
    chain.reverse()
    if not chain or chain[0] not in GLUE_ROOTS:
        return False
    return chain[0] == "threads" or len(chain) >= 2  # never a whole snakemake.input/params/output object


def convention_problems(path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    body = list(tree.body)
    problems = []
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
        problems.append("no module docstring")
    else:
        body = body[1:]
    imported = {}
    for node in body[:-1]:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skytext"):
            imported.update({a.asname or a.name: node.module for a in node.names})
        elif not isinstance(node, (ast.Import, ast.ImportFrom)):
            problems.append(f"line {node.lineno}: only imports may precede the snakemake block")
    block = body[-1] if body else None
    if not (isinstance(block, ast.If) and ast.unparse(block.test) == "'snakemake' in globals()" and not block.orelse):
        return problems + ["the last statement is not `if \"snakemake\" in globals():`"]
    if len(block.body) != 1 or not isinstance(block.body[0], ast.With):
        return problems + ["the snakemake block holds more than `with log_to(snakemake.log[0]):`"]
    with_ = block.body[0]
    if ast.unparse(with_.items[0].context_expr) != "log_to(snakemake.log[0])" or len(with_.items) != 1:
        problems.append("the block does not log to snakemake.log[0]")
    if len(with_.body) != 1 or not isinstance(with_.body[0], ast.Expr) or not isinstance(with_.body[0].value, ast.Call):
        return problems + ["the log block must hold exactly one library call"]
    call = with_.body[0].value
    name = ast.unparse(call.func)
    if name.split(".")[0] not in imported:
        problems.append(f"{name} is not imported from skytext")
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        if not _glue_value(arg):
            problems.append(f"argument `{ast.unparse(arg)}` is not a plain value read off snakemake")
    if any(k.arg is None for k in call.keywords):
        problems.append("no **unpacking: name each argument")
    return problems


@pytest.mark.parametrize("path", entry_scripts(), ids=lambda p: p.name)
def test_entry_script_follows_the_convention(path):
    problems = convention_problems(path)
    assert not problems, f"{path.name}: " + "; ".join(problems)
