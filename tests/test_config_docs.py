"""docs/configuration.md is generated from the schema and in sync with it: every key, type, default."""

from conftest import ROOT
from skytext.core.config import defaults, load_schema
from skytext.core.config_docs import render, rows

DOC = ROOT / "docs" / "configuration.md"


def test_configuration_doc_is_in_sync_with_the_schema():
    assert DOC.read_text() == render(), (
        "docs/configuration.md is stale: run `cd workflow/scripts && ../../.venv/bin/python -m "
        "skytext.core.config_docs > ../../docs/configuration.md`")


def test_every_leaf_is_listed_with_its_default():
    schema = load_schema()
    listed = {key: default for key, _, default, _ in rows(schema)}
    for section in ("images", "spectra", "transients", "analysis", "llm"):
        for key, value in defaults(section).items():
            if isinstance(value, dict):
                continue
            assert f"{section}.{key}" in listed, f"{section}.{key} missing from the doc"
    assert listed["seed"] == "`0`"
    assert any(k.startswith("analysis.embeddings[].") for k in listed), "list items' keys are documented"
