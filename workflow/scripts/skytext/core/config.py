"""Config checking with one-line errors that name the culprit.

The schema (``workflow/schemas/config.schema.yaml``) and its sections
(``workflow/schemas/sections/<section>.schema.yaml``) carry every default; :func:`check` composes them,
reports the first problem as one line (``train.lr: 'fast' is not of type 'number'``, ``unknown key
'trian' (did you mean 'train'?)``) and fills in defaults.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    """An invalid configuration; the message is one line."""


def load_schema(schema_dir: str | Path) -> dict:
    schema_dir = Path(schema_dir)
    schema = yaml.safe_load((schema_dir / "config.schema.yaml").read_text())
    for path in sorted((schema_dir / "sections").glob("*.schema.yaml")):
        name = path.name.removesuffix(".schema.yaml")
        section = yaml.safe_load(path.read_text())
        section.pop("$schema", None)
        section.setdefault("default", {})
        schema["properties"][name] = section
    return schema


def _fill_defaults(instance: dict, schema: dict) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(instance[key], sub)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path)


def _one_line(error: jsonschema.ValidationError) -> str:
    where = _where(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        key = extra[0] if extra else "?"
        full = f"{where}.{key}" if where else key
        hint = difflib.get_close_matches(key, allowed, n=1)
        tip = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
        return f"unknown key {full!r}{tip}"
    msg = error.message.splitlines()[0]
    if len(msg) > 200:
        msg = msg[:200] + "..."
    return f"{where or '<top level>'}: {msg}"


def check(config: dict, schema_dir: str | Path) -> dict:
    """Validate ``config`` (in place, defaults filled) and return it; raise :class:`ConfigError`."""
    schema = load_schema(schema_dir)
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of keys to values")
    _fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), _where(e)))
    if errors:
        raise ConfigError(_one_line(errors[0]))
    demo = config.get("demo", {})
    if demo.get("min_images", 1) > demo.get("max_images", 1):
        raise ConfigError("demo.min_images: must not exceed demo.max_images")
    ds = config.get("dataset", {})
    if ds.get("val_fraction", 0) + ds.get("test_fraction", 0) >= 0.9:
        raise ConfigError("dataset.val_fraction + dataset.test_fraction: must leave at least 10 % for training")
    return config
