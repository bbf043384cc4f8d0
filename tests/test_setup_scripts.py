"""The README's two set-up commands: bin/setup says what it installs and why; bin/test shows the slowest tests."""

import os
import subprocess

from conftest import ROOT


def test_setup_says_what_it_installs_before_the_long_download(tmp_path):
    env = {**os.environ, "SKYTEXT_SETUP_DRY_RUN": "1"}
    # a checkout without a stamp: copy the scripts and pyproject so the real .venv is not touched
    (tmp_path / "bin").mkdir()
    for name in ("setup",):
        (tmp_path / "bin" / name).write_text((ROOT / "bin" / name).read_text())
        (tmp_path / "bin" / name).chmod(0o755)
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    proc = subprocess.run(["bin/setup"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "PyTorch 2.14.1" in proc.stderr and "6.4 GB" in proc.stderr
    assert not (tmp_path / ".venv").exists()  # dry run


def test_bin_test_reports_the_ten_slowest_tests():
    assert "--durations=10" in (ROOT / "bin" / "test").read_text()


FAKE_PYTHON = r"""#!/usr/bin/env bash
# A stand-in for python in bin/setup: "-m venv DIR" makes DIR/bin/python (a copy of this script); "-m pip
# install -e ..." prints like pip, then holds after its first package until the test creates $SETUP_GO.
if [[ $1 == -m && $2 == venv ]]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0; fi
if [[ $1 == -m && $2 == pip ]]; then
    [[ " $* " == *" --upgrade pip "* ]] && exit 0
    echo "Collecting alpha==1.0"
    echo "  Downloading alpha-1.0-py3-none-any.whl (1.2 kB)"
    for _ in $(seq 300); do [[ -e $SETUP_GO ]] && break; sleep 0.1; done
    echo "Collecting beta==2.0"
    if [[ -n ${FAKE_PIP_FAIL:-} ]]; then
        echo "ERROR: No matching distribution found for beta==2.0" >&2; touch "$SETUP_DONE"; exit 1
    fi
    echo "Successfully installed alpha-1.0 beta-2.0"
    touch "$SETUP_DONE"
    exit 0
fi
exit 2
"""


def _fake_checkout(tmp_path):
    """A checkout with bin/setup and pyproject.toml, and a fake python named by $PYTHON."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "setup").write_text((ROOT / "bin" / "setup").read_text())
    (tmp_path / "bin" / "setup").chmod(0o755)
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return {**os.environ, "PYTHON": str(fake), "SETUP_GO": str(tmp_path / "go"), "SETUP_DONE": str(tmp_path / "done")}


def test_setup_streams_pip_lines_while_pip_runs_and_keeps_the_log(tmp_path):
    """Issue 22 item 21: each "Collecting" line appears while pip is still installing (the fake pip holds after
    its first package until the test has seen that line), not after the install ends; the full log is kept."""
    env = _fake_checkout(tmp_path)
    proc = subprocess.Popen(["bin/setup"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True, bufsize=1)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line.rstrip("\n"))
            if line.startswith("Collecting alpha"):
                assert not (tmp_path / "done").exists(), "the line came only after pip had finished"
                (tmp_path / "go").touch()
        proc.wait(timeout=120)
    finally:
        (tmp_path / "go").touch()
        proc.kill()
    assert proc.returncode == 0, "\n".join(seen)
    pip_lines = [x for x in seen if x.startswith(("Collecting", "Successfully"))]
    assert pip_lines == ["Collecting alpha==1.0", "Collecting beta==2.0", "Successfully installed alpha-1.0 beta-2.0"]
    assert seen[-1] == "skytext setup: done" and (tmp_path / ".venv" / ".skytext-installed").exists()
    assert "Downloading alpha" in (tmp_path / ".venv" / "pip-install.log").read_text()


def test_a_failed_install_ends_with_one_line_naming_the_log(tmp_path):
    env = {**_fake_checkout(tmp_path), "FAKE_PIP_FAIL": "1"}
    (tmp_path / "go").touch()
    proc = subprocess.run(["bin/setup"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1
    assert lines[-1] == "skytext setup: pip install failed (full log: .venv/pip-install.log)"
    assert "ERROR: No matching distribution found for beta==2.0" in proc.stderr
    assert "No matching distribution" in (tmp_path / ".venv" / "pip-install.log").read_text()
    assert not (tmp_path / ".venv" / ".skytext-installed").exists()
