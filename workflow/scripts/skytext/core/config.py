"""Config checking with one-line errors that name the culprit; the schema is the only home of defaults.

``workflow/schemas/config.schema.yaml`` holds the keys shared by all studies (``studies``, ``seed``,
``shards``, ``resources``) and pulls in ``sections/<name>.schema.yaml`` where a property says
``x-include: sections/<name>.schema.yaml`` (``llm`` at the top level, ``hst`` inside ``images``). Every file
``studies/<study>.schema.yaml`` adds the config section of one study, and the study names become the allowed
values of ``studies``. :func:`check` composes them, turns the strings Snakemake's ``--config`` passes into the
schema's types, fills in every default, and reports the first problem as one line (``images.train.lr: 'fast'
is not of type 'number'``, ``unknown key 'images.trian' (did you mean 'train'?)``).

Defaults are filled in nested objects and inside the objects of lists (``items``) and maps
(``additionalProperties``). Two schema annotations: ``x-merge-default: true`` on a map merges a user's map over
its default (``llm.prices``); ``x-message`` on a subschema replaces jsonschema's wording of its error. Rules that
compare keys run after the schema, from :data:`CROSS_CHECKS` (one entry per section; a study registers its own
as ``"module:function"``, imported only then, so core imports no study package).

Library code receives complete sections and indexes them (``cfg["key"]``); no default literal lives in code.
:func:`defaults` gives the complete default section for tests and benchmarks.
"""

from __future__ import annotations

import copy
import difflib
import importlib
from pathlib import Path
from typing import Any, Callable

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


class ConfigError(ValueError):
    """An invalid configuration; the message is one line."""


def _read(path: Path) -> dict:
    schema = yaml.safe_load(path.read_text())
    schema.pop("$schema", None)
    return schema


def _resolve_includes(node: Any, schema_dir: Path) -> Any:
    if isinstance(node, dict):
        if "x-include" in node:
            included = _resolve_includes(_read(schema_dir / node["x-include"]), schema_dir)
            extra = {k: v for k, v in node.items() if k not in ("x-include",)}
            node = {**included, **extra}
            node.setdefault("default", {})
            return node
        return {k: _resolve_includes(v, schema_dir) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_includes(v, schema_dir) for v in node]
    return node


def load_schema(schema_dir: str | Path = SCHEMAS) -> dict:
    """The whole config schema: top level, sections and one property per study schema."""
    schema_dir = Path(schema_dir)
    schema = _read(schema_dir / "config.schema.yaml")
    studies = sorted(p.name.removesuffix(".schema.yaml") for p in (schema_dir / "studies").glob("*.schema.yaml"))
    for name in studies:
        section = _read(schema_dir / "studies" / f"{name}.schema.yaml")
        section.setdefault("default", {})
        schema["properties"][name] = section
    schema["properties"]["studies"]["items"]["enum"] = studies
    return _resolve_includes(schema, schema_dir)


def study_names(schema_dir: str | Path = SCHEMAS) -> list[str]:
    """The study names: one per ``studies/<name>.schema.yaml``, the allowed values of ``studies``."""
    return list(load_schema(schema_dir)["properties"]["studies"]["items"]["enum"])


def _types(schema: dict) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def _coerce_scalar(value: str, types: list[str]) -> Any:
    low = value.strip().lower()
    if "null" in types and low in ("null", "~"):
        return None
    if "string" in types:
        return value
    if "boolean" in types and low in ("true", "false", "yes", "no"):
        return low in ("true", "yes")
    for name, conv in (("integer", int), ("number", float)):
        if name in types:
            try:
                return conv(value)
            except ValueError:
                pass
    return value


def _coerce(instance: Any, schema: dict) -> Any:
    """Snakemake's ``--config k={...}`` hands nested values over as strings: give them the schema's types."""
    if isinstance(instance, str):
        return _coerce_scalar(instance, _types(schema))
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [_coerce(v, schema["items"]) for v in instance]
    if isinstance(instance, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: _coerce(v, props[k]) if k in props else _coerce(v, extra) if isinstance(extra, dict) else v
                for k, v in instance.items()}
    return instance


def _fill_defaults(instance: dict, schema: dict) -> None:
    """Fill every missing key that has a default, in nested objects, in the objects of arrays (``items``) and
    of maps (``additionalProperties``); a map marked ``x-merge-default: true`` gets the entries of its default
    that the user's map lacks (``llm.prices``: a user's table adds to the reference prices)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        elif sub.get("x-merge-default") and isinstance(instance.get(key), dict) and "default" in sub:
            instance[key] = {**copy.deepcopy(sub["default"]), **instance[key]}
        if key in instance:
            _fill_value(instance[key], sub)


def _fill_value(value: Any, schema: dict) -> None:
    """Fill the defaults inside one value: an object, the objects of an array or of a map."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        _fill_defaults(value, schema)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k, v in value.items():
                if k not in schema.get("properties", {}):
                    _fill_value(v, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _fill_value(item, schema["items"])


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
    msg = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    msg = msg or error.message.splitlines()[0]
    if len(msg) > 200:
        msg = msg[:200] + "..."
    return f"{where or '<top level>'}: {msg}"


def _check_images(config: dict) -> None:
    """Cross-key rules of the ``images`` section."""
    demo, ds = config["images"]["demo"], config["images"]["dataset"]
    if demo["min_images"] > demo["max_images"]:
        raise ConfigError("images.demo.min_images: must not exceed images.demo.max_images")
    if ds["val_fraction"] + ds["test_fraction"] >= 0.9:
        raise ConfigError("images.dataset.val_fraction + test_fraction: must leave at least 10 % for training")


def _check_llm(config: dict) -> None:
    """Cross-section rule of ``llm``: a ``summary`` caption needs a backend that writes summaries."""
    if "images" in config and "summary" in config["images"]["captions"] and config["llm"]["backend"] == "none":
        raise ConfigError("images.captions: 'summary' needs summaries but llm.backend is 'none'; "
                          "set llm.backend to openai, openai-batch or keywords")


# The rules a JSON schema cannot say (they compare keys), one entry per config section, run by :func:`check`
# after the schema has passed and every default is filled in. An entry is a function, or ``"module:function"``
# imported only when a check runs, so a study package registers its rule here without core importing it. Each
# rule receives the complete config (a rule may compare its section with another) and raises ConfigError or
# ValueError with a one-line message that starts with the key it blames.
CROSS_CHECKS: dict[str, Callable[[dict], None] | str] = {
    "images": _check_images,
    "llm": _check_llm,
    "analysis": "skytext.analysis.sets:check_config",
}


def _rule(entry: Callable[[dict], None] | str) -> Callable[[dict], None]:
    """The check function of a :data:`CROSS_CHECKS` entry (``"module:function"`` imported now)."""
    if callable(entry):
        return entry
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(module), name)


def cross_check(config: dict) -> None:
    """Run every :data:`CROSS_CHECKS` rule on a complete, schema-valid ``config``; raise :class:`ConfigError`."""
    for name, entry in CROSS_CHECKS.items():
        if name not in config:
            continue
        try:
            _rule(entry)(config)
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(" ".join(str(exc).split())) from exc


def check(config: dict | None, schema_dir: str | Path = SCHEMAS) -> dict:
    """Validate ``config`` (in place: types coerced, defaults filled) and return it; raise :class:`ConfigError`."""
    schema = load_schema(schema_dir)
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of keys to values")
    config.update(_coerce(config, schema))
    _fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), _where(e)))
    if errors:
        err = errors[0]
        if list(err.absolute_path)[:1] == ["studies"] and err.validator == "enum":
            hint = difflib.get_close_matches(str(err.instance), study_names(schema_dir), n=1)
            tip = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"studies: unknown study {err.instance!r}{tip}; known: "
                              f"{', '.join(study_names(schema_dir))}")
        raise ConfigError(_one_line(err))
    cross_check(config)
    return config


def defaults(path: str = "", schema_dir: str | Path = SCHEMAS) -> Any:
    """The complete default value at a dotted ``path`` (``"images.train"``; ``""`` = the whole config)."""
    node: Any = check({}, schema_dir)
    for part in [p for p in path.split(".") if p]:
        node = node[part]
    return copy.deepcopy(node)
