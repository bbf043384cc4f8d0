"""Config checking: one home for defaults (the schema), types from --config, one-line errors naming the culprit."""

import dataclasses

import pytest
import yaml

from conftest import ROOT, run_snakemake
from skytext.align.models import ModelSpec
from skytext.align.train import TrainConfig
from skytext.core.config import ConfigError, check, defaults, load_schema
from skytext.sources.sky_demo import DemoConfig

SCHEMAS = ROOT / "workflow" / "schemas"


def test_empty_config_gets_every_default():
    cfg = check({}, SCHEMAS)
    assert cfg["studies"] == ["images", "spectra", "transients", "analysis"]
    assert cfg["images"]["source"] == "demo"
    assert cfg["images"]["train"]["modes"] == ["full", "head", "shuffled"]
    assert cfg["images"]["hst"]["max_images_per_proposal"] == 20  # included section schemas too
    assert cfg["llm"]["backend"] == "none"


def _schema_leaves(schema: dict, prefix=()):
    for key, sub in schema.get("properties", {}).items():
        if "properties" in sub:
            yield from _schema_leaves(sub, prefix + (key,))
        else:
            yield prefix + (key,), sub


def test_every_schema_key_has_a_default_and_the_empty_config_is_complete():
    cfg = check({}, SCHEMAS)
    for path, sub in _schema_leaves(load_schema(SCHEMAS)):
        assert "default" in sub, f"{'.'.join(path)} has no default in the schema"
        node = cfg
        for part in path:
            node = node[part]
        assert _within(sub["default"], node), f"{'.'.join(path)}: {node!r} is not the schema default"


def _within(default, value) -> bool:
    """``value`` is ``default`` with, at most, item defaults filled into its objects."""
    if isinstance(default, dict) and isinstance(value, dict):
        return all(k in value and _within(v, value[k]) for k, v in default.items())
    if isinstance(default, list) and isinstance(value, list):
        return len(default) == len(value) and all(_within(d, v) for d, v in zip(default, value))
    return default == value


def test_shipped_config_only_overrides_what_it_means_to():
    """Building from an empty file and from config.yaml differ only where config.yaml writes a key."""
    written = yaml.safe_load((ROOT / "config.yaml").read_text())
    full, empty = check(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMAS), check({}, SCHEMAS)

    def diff(a, b, path=()):
        if isinstance(a, dict):
            for k in a:
                yield from diff(a[k], b[k], path + (k,))
        elif a != b:
            yield path

    for path in diff(full, empty):
        node = written
        for part in path:
            node = node[part]  # KeyError: a value changed that config.yaml does not write


def test_typed_configs_are_pinned_to_the_schema():
    """The dataclasses scripts receive carry no defaults of their own; where one exists it equals the schema's."""
    train = defaults("images.train")
    cfg = TrainConfig.from_config(train, seed=0)
    for f in dataclasses.fields(TrainConfig):
        if f.name not in ("seed", "extra"):
            assert f.default is dataclasses.MISSING, f"TrainConfig.{f.name} has a default outside the schema"
            want = tuple(train[f.name]) if f.name == "crop_scale" else train[f.name]
            assert getattr(cfg, f.name) == want
    demo = DemoConfig.from_config(defaults("images.demo"), seed=0)
    assert dataclasses.asdict(demo) == {**defaults("images.demo"), "seed": 0}
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(DemoConfig))
    model = defaults("images.model")
    for f in dataclasses.fields(ModelSpec):
        if f.name in model and f.default is not dataclasses.MISSING:
            assert f.default == model[f.name], f"ModelSpec.{f.name} default disagrees with the schema"
    with pytest.raises(KeyError, match="steps"):
        TrainConfig.from_dict({k: v for k, v in train.items() if k != "steps"})


def test_shipped_configs_are_valid():
    check(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMAS)
    check(yaml.safe_load((ROOT / "tests/configs/micro.yaml").read_text()), SCHEMAS)


def test_strings_from_the_command_line_get_the_schema_types():
    # Snakemake's --config parses nested values with YAML's BaseLoader: every scalar arrives as a string
    cfg = check({"images": {"train": {"steps": "300", "lr": "1e-4", "rot90": "false"},
                            "model": {"pretrained": "null"}, "hst": {"proposal_ids": ["12345"]}}}, SCHEMAS)
    assert cfg["images"]["train"]["steps"] == 300 and cfg["images"]["train"]["lr"] == 1e-4
    assert cfg["images"]["train"]["rot90"] is False and cfg["images"]["model"]["pretrained"] is None
    assert cfg["images"]["hst"]["proposal_ids"] == ["12345"]  # integer or string: left as given
    assert cfg["images"]["train"]["batch_size"] == defaults("images.train.batch_size")


@pytest.mark.parametrize(
    "bad, culprit",
    [
        ({"images": {"trian": {}}}, "'images.trian' (did you mean 'train'?)"),
        ({"images": {"train": {"lr": "fast"}}}, "images.train.lr: 'fast' is not of type 'number'"),
        ({"images": {"train": {"stpes": 3}}}, "'images.train.stpes'"),
        ({"images": {"source": "sdss"}}, "images.source: 'sdss' is not one of"),
        ({"images": {"hst": {"image_size": "big"}}}, "images.hst.image_size"),
        ({"llm": {"bakend": "openai"}}, "'llm.bakend'"),
        ({"images": {"demo": {"min_images": 5, "max_images": 2}}}, "images.demo.min_images"),
        ({"studies": ["imagse"]}, "unknown study 'imagse' (did you mean 'images'?)"),
        ({"imagse": {}}, "unknown key 'imagse' (did you mean 'images'?)"),
        ({"train": {}}, "unknown key 'train'"),  # the old top-level layout is refused, not ignored
    ],
)
def test_bad_config_names_the_culprit_in_one_line(bad, culprit):
    with pytest.raises(ConfigError) as err:
        check(bad, SCHEMAS)
    msg = str(err.value)
    assert culprit in msg
    assert "\n" not in msg


def test_snakemake_stops_before_any_job_with_one_line(workflow_copy):
    (workflow_copy / "config.yaml").write_text("images:\n  train:\n    lr: fast\n")
    proc = run_snakemake(workflow_copy, "-n", check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "config error" in line]
    assert lines == ["config error: images.train.lr: 'fast' is not of type 'number'"]
    assert not (workflow_copy / "results").exists()


def test_misspelled_study_on_the_command_line_is_named(workflow_copy):
    proc = run_snakemake(workflow_copy, "-n", "--config", "studies=[imgaes]", check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "config error" in line]
    assert len(lines) == 1 and "unknown study 'imgaes' (did you mean 'images'?)" in lines[0]


def test_nested_command_line_override_changes_the_run(workflow_copy):
    """The README's form --config 'images={demo: {n_proposals: 9}}' merges into the defaults and reaches the job."""
    import pandas as pd

    target = "results/images/demo/acquire/proposals.parquet"
    run_snakemake(workflow_copy, target, "--config", "images={demo: {n_proposals: 9}}")
    props = pd.read_parquet(workflow_copy / target)
    assert len(props) == 9  # the override, as an integer
    assert props["abstract"].str.len().min() > 0  # and the rest of images.demo kept its defaults


def test_summary_caption_without_llm_backend_is_refused(workflow_copy):
    proc = run_snakemake(workflow_copy, "-n", "--config", "images={captions: [abstract, summary]}", check=False)
    assert proc.returncode != 0
    assert "config error:" in proc.stdout + proc.stderr


def _mini_schemas(tmp_path, section: dict):
    """A schema folder with one study, ``demo``, whose section is ``section``."""
    (tmp_path / "studies").mkdir(parents=True)
    (tmp_path / "studies" / "demo.schema.yaml").write_text(yaml.safe_dump(section))
    (tmp_path / "config.schema.yaml").write_text(yaml.safe_dump({
        "type": "object", "additionalProperties": False,
        "properties": {"studies": {"type": "array", "items": {"type": "string"}, "default": ["demo"]}}}))
    return tmp_path


ITEM = {"type": "object", "additionalProperties": False, "required": ["name"],
        "properties": {"name": {"type": "string"}, "k": {"type": "integer", "default": 5},
                       "opts": {"type": "object", "default": {}, "additionalProperties": False,
                                "properties": {"metric": {"type": "string", "default": "cosine"}}}}}


def test_defaults_are_filled_inside_array_items_and_map_values(tmp_path):
    """Objects in a list (``items``) or a map (``additionalProperties``) get their schema defaults from ``check``,
    in the user's lists and in the lists the schema gives as defaults."""
    schemas = _mini_schemas(tmp_path, {"type": "object", "default": {}, "additionalProperties": False, "properties": {
        "sets": {"type": "array", "items": ITEM, "default": [{"name": "base"}]},
        "named": {"type": "object", "default": {}, "additionalProperties": ITEM}}})
    cfg = check({"demo": {"sets": [{"name": "a"}, {"name": "b", "k": "3", "opts": {"metric": "l2"}}],
                          "named": {"x": {"name": "x"}}}}, schemas)
    assert cfg["demo"]["sets"] == [{"name": "a", "k": 5, "opts": {"metric": "cosine"}},
                                   {"name": "b", "k": 3, "opts": {"metric": "l2"}}]
    assert cfg["demo"]["named"] == {"x": {"name": "x", "k": 5, "opts": {"metric": "cosine"}}}
    assert check({}, schemas)["demo"]["sets"] == [{"name": "base", "k": 5, "opts": {"metric": "cosine"}}]
    with pytest.raises(ConfigError, match=r"demo.sets.0.k: 'many' is not of type 'integer'"):
        check({"demo": {"sets": [{"name": "a", "k": "many"}]}}, schemas)


def test_a_study_registers_a_cross_check_by_import_path(tmp_path, monkeypatch):
    """``CROSS_CHECKS`` entries may be ``"module:function"``: imported only when ``check`` runs (core imports no
    study package), given the complete config, and their ValueError becomes a one-line ConfigError."""
    import sys

    from skytext.core import config as C

    mod = tmp_path / "mods" / "demo_rules.py"
    mod.parent.mkdir()
    mod.write_text("def check_section(config):\n"
                   "    if config['demo']['k'] > config['demo']['n']:\n"
                   "        raise ValueError('demo.k: must not exceed\\n demo.n')\n")
    monkeypatch.syspath_prepend(str(mod.parent))
    monkeypatch.setitem(C.CROSS_CHECKS, "demo", "demo_rules:check_section")
    schemas = _mini_schemas(tmp_path / "s", {"type": "object", "default": {}, "properties": {
        "k": {"type": "integer", "default": 1}, "n": {"type": "integer", "default": 2}}})
    assert "demo_rules" not in sys.modules
    check({}, schemas)
    assert "demo_rules" in sys.modules
    with pytest.raises(ConfigError) as err:
        check({"demo": {"k": 3}}, schemas)
    assert str(err.value) == "demo.k: must not exceed demo.n"
