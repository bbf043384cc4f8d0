"""Per-rule conda environments that are proven: every third-party package a rule's code really imports is in
that rule's ``conda:`` env file, and the env files pin the versions pyproject.toml pins.

The micro run of all four studies (conftest ``micro_all``) runs every job with an import audit
(tests/audit/sitecustomize.py): each import statement executed by an entry script or the skytext package is
recorded per rule. Import names map to distributions through the installed packages' metadata
(``importlib.metadata.packages_distributions``: ``PIL`` -> pillow, ``sklearn`` -> scikit-learn, ...).
Rules the micro run does not execute (the real-archive sources) are checked statically: the imports their entry
script and the skytext modules it loads run at import time (function-level imports are left to the audit).
"""

import ast
import functools
import importlib.metadata as md
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from conftest import ROOT

RULES = ROOT / "workflow" / "rules"
ENVS = ROOT / "workflow" / "envs"
SCRIPTS = ROOT / "workflow" / "scripts"
# provided by Snakemake's script preamble, or our own code
NOT_DEPENDENCIES = {"snakemake", "skytext", "conftest"}
CONDA_TO_PYPI = {"pytorch": "torch", "faiss": "faiss-cpu"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def rule_envs() -> dict[str, str]:
    """rule -> its conda env file name, from the rule files."""
    out, rule = {}, None
    for smk in sorted(RULES.rglob("*.smk")):
        for line in smk.read_text().splitlines():
            m = re.match(r"\s*rule (\w+):", line)
            if m:
                rule = m.group(1)
            m = re.match(r'\s*"(?:\.\./)+envs/([\w-]+\.yaml)"', line)
            if m and rule:
                out[rule] = m.group(1)
    return out


def rule_scripts() -> dict[str, str]:
    from test_entry_scripts import rule_scripts as scripts

    return scripts()


def env_requirements(name: str) -> dict[str, str]:
    """distribution (normalised) -> version spec ('' when unpinned) of an env file, conda and pip parts."""
    spec = yaml.safe_load((ENVS / name).read_text())
    out = {}
    for dep in spec.get("dependencies", []):
        if isinstance(dep, dict):
            for req in dep.get("pip", []):
                r = Requirement(req)
                out[norm(r.name)] = str(r.specifier)
            continue
        m = re.match(r"([A-Za-z0-9_.\-]+)\s*(?:=+\s*([\w.*]+))?", dep)
        name_ = norm(CONDA_TO_PYPI.get(m.group(1), m.group(1)))
        out[name_] = f"=={m.group(2)}" if m.group(2) else ""
    return out


@functools.cache
def installed() -> dict[str, list[str]]:
    """Top-level import name -> the installed distributions providing it (read once: it scans every package)."""
    return md.packages_distributions()


def distributions(import_name: str) -> list[str]:
    """The installed distributions that provide a top-level import name ([] for the standard library)."""
    if import_name in sys.stdlib_module_names or import_name in sys.builtin_module_names:
        return []
    return [norm(d) for d in installed().get(import_name, [import_name])]


def missing(imports, env: dict[str, str]) -> list[str]:
    """Import names none of whose distributions the env lists."""
    out = []
    for name in sorted(imports):
        dists = distributions(name)
        if name not in NOT_DEPENDENCIES and dists and not any(d in env for d in dists):
            out.append(f"{name} ({'/'.join(dists)})")
    return out


def module_level(tree: ast.Module):
    """The nodes that run when a module is imported: its body, into if/try/with blocks, not into functions."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            todo.extend(ast.iter_child_nodes(node))


def static_imports(script: Path) -> set[str]:
    """Top-level names a script imports, and the skytext modules it reaches, import when they are loaded
    (module-level imports: what a job runs at the very least; function-level imports run only when called)."""
    from test_imports import MODULES, resolve

    def names(path):
        for node in module_level(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                yield from (a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                yield node.module

    found, todo, seen = set(), [], set()
    for n in names(script):
        (todo.append(resolve(n)) if n.startswith("skytext") and resolve(n) else found.add(n.split(".")[0]))
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        for n in names(MODULES[mod]):
            (todo.append(resolve(n)) if n.startswith("skytext") and resolve(n) else found.add(n.split(".")[0]))
    return found


@pytest.fixture(scope="module")
def audited(micro_all):
    """rule -> the import names its jobs really executed, over the whole micro run."""
    out: dict[str, set] = {}
    for path in Path(micro_all.audit).glob("*.json"):
        rec = json.loads(path.read_text())
        out.setdefault(rec["rule"], set()).update(rec["imports"])
    assert out, "the import audit recorded nothing: is tests/audit on the jobs' PYTHONPATH?"
    return out


def test_every_rule_has_a_conda_env_file():
    envs = rule_envs()
    scripts = rule_scripts()
    assert set(scripts) <= set(envs), f"rules without conda: {sorted(set(scripts) - set(envs))}"
    assert all((ENVS / e).exists() for e in envs.values())


@pytest.mark.e2e
def test_the_audit_sees_real_imports(audited):
    assert "torch" in audited.get("train", set()), audited.get("train")
    assert "pandas" in audited.get("transients_dataset", set())


@pytest.mark.e2e
def test_audited_imports_are_in_each_rules_env(audited):
    envs = rule_envs()
    bad = [f"{rule} ({envs[rule]}): {', '.join(m)}" for rule, imports in sorted(audited.items())
           if rule in envs and (m := missing(imports, env_requirements(envs[rule])))]
    assert not bad, "imports missing from conda envs:\n" + "\n".join(bad)


@pytest.mark.e2e
def test_rules_the_micro_run_does_not_execute_are_checked_statically(audited):
    envs, scripts = rule_envs(), rule_scripts()
    bad = []
    for rule, script in sorted(scripts.items()):
        if rule in audited:
            continue
        m = missing(static_imports(SCRIPTS / script), env_requirements(envs[rule]))
        if m:
            bad.append(f"{rule} ({envs[rule]}): {', '.join(m)}")
    assert not bad, "imports missing from conda envs (static scan):\n" + "\n".join(bad)


def test_env_versions_match_pyproject_pins():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {norm(Requirement(r).name): Requirement(r).specifier for r in project["dependencies"]}
    bad = []
    for env in sorted(p.name for p in ENVS.glob("*.yaml")):
        for name, spec in env_requirements(env).items():
            if name not in pins or not spec:
                continue
            exact = [s.version for s in Requirement(f"x{spec}").specifier if s.operator in ("==", "===")]
            if exact and not all(pins[name].contains(Version(v.rstrip(".*")), prereleases=True) for v in exact):
                bad.append(f"{env}: {name}{spec} outside pyproject's {name}{pins[name]}")
            pinned = [s.version for s in pins[name] if s.operator == "=="]
            if pinned and exact != pinned and str(spec) != f"=={pinned[0]}":
                bad.append(f"{env}: {name}{spec} but pyproject pins {name}=={pinned[0]}")
    assert not bad, "\n".join(bad)
