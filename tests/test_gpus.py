"""GPU claiming on a workstation: distinct jobs get distinct devices, all-or-nothing, freed when a job dies."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT
from skytext.core import gpus


@pytest.fixture
def gpu_env(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("SKYTEXT_GPU_IDS", "0,1,2")
    monkeypatch.setenv("SKYTEXT_GPU_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


def test_concurrent_claims_get_distinct_gpus(gpu_env):
    with gpus.claim(1) as a:
        assert a == ["0"] and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
        os.environ.pop("CUDA_VISIBLE_DEVICES")  # as if a second job: each process has its own environment
        with gpus.claim(2) as b:
            assert b == ["1", "2"] and os.environ["CUDA_VISIBLE_DEVICES"] == "1,2"
            os.environ.pop("CUDA_VISIBLE_DEVICES")
            with pytest.raises(TimeoutError, match="no 1 free GPUs among SKYTEXT_GPU_IDS=0,1,2"):
                with gpus.claim(1, wait_s=0.3, poll_s=0.05):
                    pass
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    with gpus.claim(3) as c:  # everything released
        assert c == ["0", "1", "2"]


def test_claim_is_all_or_nothing(gpu_env):
    with gpus.claim(2):
        os.environ.pop("CUDA_VISIBLE_DEVICES")
        with pytest.raises(TimeoutError):
            with gpus.claim(2, wait_s=0.2, poll_s=0.05):
                pass
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        with gpus.claim(1) as one:  # the failed claim of two did not keep the free one
            assert one == ["2"]


def test_nothing_to_do_without_ids_or_under_a_scheduler(gpu_env, monkeypatch):
    with gpus.claim(0) as none:
        assert none is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    with gpus.claim(1) as none:
        assert none is None and os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(ValueError, match="needs 4 GPUs but SKYTEXT_GPU_IDS lists 3"):
        with gpus.claim(4):
            pass


def test_a_killed_job_frees_its_gpu(gpu_env):
    holder = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / 'workflow' / 'scripts')!r})
        from skytext.core import gpus
        with gpus.claim(3) as ids:
            print(",".join(ids), flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout.readline().strip() == "0,1,2"
    with pytest.raises(TimeoutError):
        with gpus.claim(1, wait_s=0.2, poll_s=0.05):
            pass
    proc.kill()
    proc.wait()
    t = time.monotonic()
    with gpus.claim(1, wait_s=5, poll_s=0.05) as ids:
        assert ids == ["0"] and time.monotonic() - t < 5
