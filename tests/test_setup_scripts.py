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
