"""End to end: `snakemake --config source=hst` against the MAST replay server, up to the dataset rule."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_workflow

from fakes.mast_replay import ReplayServer

ROOT = Path(__file__).resolve().parents[1]
ABSTRACTS = Path(__file__).parent / "data" / "abstracts" / "abstracts.cat"
TARGET = "results/hst/dataset/observations.parquet"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (ROOT / "Snakefile").exists(), reason="the workflow's Snakefile does not exist yet"),
]


def test_hst_source_runs_to_the_dataset_against_the_replay_server(tmp_path):
    copy_workflow(tmp_path)
    server = ReplayServer(abstracts=ABSTRACTS).start()
    server.faults["hst_13495_02_acs_wfc_total_jc8m02_drc.jpg"] = ["503", "truncate"]
    try:
        (tmp_path / "hst.yaml").write_text(
            "source: hst\n"
            "hst:\n"
            f"  mast_url: '{server.url}'\n"
            f"  abstracts_url: '{server.url}/abstracts.cat'\n"
            "  proposal_ids: [13495, 15354]\n"
            "  image_size: 64\n"
            "  download: {timeout_s: 2, backoff_s: 0.01}\n"
        )
        cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "hst.yaml",
               "--config", "source=hst", "--show-failed-logs", TARGET]
        run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        obs = pd.read_parquet(tmp_path / TARGET)
        assert len(obs) == 8 and obs["proposal_id"].isin(["13495", "15354"]).all()
        assert all((tmp_path / p).is_file() for p in obs["path"])
        downloads = server.download_count()
        run = subprocess.run(cmd + ["--forcerun", "hst_download"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        assert server.download_count() == downloads  # a rerun downloads nothing new
    finally:
        server.stop()
