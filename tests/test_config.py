"""Config checking: defaults filled in, and bad configs stopped with one line naming the culprit."""

import pytest
import yaml

from conftest import ROOT, run_snakemake
from skytext.core.config import ConfigError, check

SCHEMAS = ROOT / "workflow" / "schemas"


def test_empty_config_gets_every_default():
    cfg = check({}, SCHEMAS)
    assert cfg["source"] == "demo"
    assert cfg["train"]["modes"] == ["full", "shuffled"]
    assert cfg["hst"]["max_images_per_proposal"] == 20  # section schema defaults too
    assert cfg["llm"]["backend"] == "none"


def test_shipped_config_is_valid():
    check(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMAS)
    check(yaml.safe_load((ROOT / "tests/configs/micro.yaml").read_text()), SCHEMAS)


@pytest.mark.parametrize(
    "bad, culprit",
    [
        ({"trian": {}}, "'trian' (did you mean 'train'?)"),
        ({"train": {"lr": "fast"}}, "train.lr: 'fast' is not of type 'number'"),
        ({"train": {"stpes": 3}}, "'train.stpes'"),
        ({"source": "sdss"}, "source: 'sdss' is not one of"),
        ({"hst": {"image_size": "big"}}, "hst.image_size"),
        ({"llm": {"bakend": "openai"}}, "'llm.bakend'"),
        ({"demo": {"min_images": 5, "max_images": 2}}, "demo.min_images"),
    ],
)
def test_bad_config_names_the_culprit_in_one_line(bad, culprit):
    with pytest.raises(ConfigError) as err:
        check(bad, SCHEMAS)
    msg = str(err.value)
    assert culprit in msg
    assert "\n" not in msg


def test_snakemake_stops_before_any_job_with_one_line(workflow_copy):
    (workflow_copy / "config.yaml").write_text("source: demo\ntrain:\n  lr: fast\n")
    proc = run_snakemake(workflow_copy, "-n", check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "config error" in line]
    assert lines == ["config error: train.lr: 'fast' is not of type 'number'"]
    assert not (workflow_copy / "results").exists()


def test_summary_caption_without_llm_backend_is_refused(workflow_copy):
    proc = run_snakemake(workflow_copy, "-n", "--config", "captions=[abstract,summary]", check=False)
    assert proc.returncode != 0
    assert "config error:" in proc.stdout + proc.stderr
