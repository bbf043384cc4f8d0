"""Shared test set-up: the skytext package and the fakes are importable; helpers to copy the workflow."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).parent))
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow (so tests never touch the checkout's results/)."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("workflow", "resources", "tests/configs"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def run_snakemake(cwd: Path, *args: str, check: bool = True, timeout: int = 3600,
                  env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           **(env or {})}
    # the timeout only guards against a hang (an hour): no test passes or fails on how fast the machine is
    proc = subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture
def workflow_copy(tmp_path):
    return copy_workflow(tmp_path)


def import_audit_env(wf: Path, out: Path) -> dict:
    """Environment that makes every Snakemake job of ``wf`` record its imports into ``out``
    (tests/audit/sitecustomize.py)."""
    audit = Path(__file__).parent / "audit"
    return {"SKYTEXT_IMPORT_AUDIT": str(out), "SKYTEXT_IMPORT_AUDIT_CODE": os.pathsep.join([str(wf / "workflow" / "scripts"), str(ROOT / "workflow" / "scripts")]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(audit), os.environ.get("PYTHONPATH")]))}


# The modules whose tests share the micro run of all four studies (``micro_all``). Under pytest-xdist (bin/test
# runs two workers) they go to one worker, first, so the run is made once while the other worker takes the rest
# of the suite. (xdist's own ``loadgroup`` marks are ignored under pytest 9: it renames items by a private field.)
MICRO_ALL_MODULES = ("test_conda_envs.py", "test_dag.py", "test_reruns.py", "test_serve_browser.py",
                     "test_spectra_e2e.py")


def pytest_collection_modifyitems(config, items):
    """The micro run's modules first; a test elsewhere that asks for the run is a usage error (it would make the
    run a second time on the other worker)."""
    stray = [i.nodeid for i in items if i.path.name not in MICRO_ALL_MODULES
             and ("micro_all" in getattr(i, "fixturenames", ()) or i.get_closest_marker("micro_all"))]
    if stray:
        raise pytest.UsageError(f"tests/conftest.py: add the module of {stray[0]} to MICRO_ALL_MODULES (it uses micro_all)")
    first = [i for i in items if i.path.name in MICRO_ALL_MODULES]
    ids = {id(i) for i in first}
    items[:] = first + [i for i in items if id(i) not in ids]


if importlib.util.find_spec("xdist"):

    def pytest_xdist_make_scheduler(config, log):
        """Load scheduling test by test, except that the micro run's modules are one unit on one worker."""
        from xdist.scheduler import LoadScopeScheduling

        class MicroAllTogether(LoadScopeScheduling):
            def _split_scope(self, nodeid):
                return "micro_all" if Path(nodeid.split("::")[0]).name in MICRO_ALL_MODULES else nodeid

        return MicroAllTogether(config, log)


@pytest.fixture(scope="session")
def micro_all(tmp_path_factory):
    """A workflow copy with the micro run of all four studies finished (tests/test_reruns.py: micro_config), each
    job's imports audited. Tests that change its results must restore them (rerun) before they return."""
    from types import SimpleNamespace

    import yaml
    from test_reruns import micro_config

    keep = os.environ.get("SKYTEXT_MICRO_ALL_DIR")  # developers: reuse (and bring up to date) one folder
    wf = Path(keep) if keep else tmp_path_factory.mktemp("micro_all")
    if keep and wf.exists():
        for name in ("workflow", "resources", "tests"):
            shutil.rmtree(wf / name, ignore_errors=True)
    wf.mkdir(parents=True, exist_ok=True)
    copy_workflow(wf)
    shutil.copytree(ROOT / "tests" / "data" / "analysis", wf / "tests" / "data" / "analysis")  # analysis fixtures
    (wf / "micro-all.yaml").write_text(yaml.safe_dump(micro_config()))
    audit = wf / "import-audit"
    first = run_snakemake(wf, "--configfile", "micro-all.yaml", timeout=3600, env=import_audit_env(wf, audit))
    return SimpleNamespace(wf=wf, config="micro-all.yaml", audit=audit, first=first)
