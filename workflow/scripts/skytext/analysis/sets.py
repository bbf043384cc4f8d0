"""The effective embedding sets and catalogues of a config: item defaults from the schema, skytext sets of
studies that are not enabled skipped (and said so), cross-references checked with one-line errors."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from skytext.core.config import ConfigError, load_schema


def _item_defaults(key: str) -> dict:
    items = load_schema()["properties"]["analysis"]["properties"][key]["items"]["properties"]
    return {k: v["default"] for k, v in items.items() if "default" in v}


def complete(item: dict, key: str) -> dict:
    """An item of ``analysis.<key>`` with every default of its item schema filled in."""
    return {**copy.deepcopy(_item_defaults(key)), **item}


@dataclass
class Plan:
    sets: list[dict]
    catalogues: dict[str, dict]
    skipped: list[dict] = field(default_factory=list)  # {"name", "reason"}


def resolve_path(entry: dict, config: dict) -> str:
    """The file an entry names: results/<study>/<source>/<path> for skytext, else the path as given."""
    if entry["format"] == "skytext":
        return f"results/{entry['study']}/{config[entry['study']]['source']}/{entry['path']}"
    return entry["path"]


def _study_missing(entry: dict, config: dict) -> str | None:
    if entry["format"] != "skytext":
        return None
    study = entry["study"]
    if not study:
        raise ConfigError(f"analysis: {entry['name']!r} has format skytext but no study")
    if study not in config["studies"] or study not in config:
        return f"study {study!r} is not enabled (config studies: {', '.join(config['studies'])})"
    return None


def plan(config: dict) -> Plan:
    """The sets and catalogues to analyse; sets whose study (or catalogue's study) is not enabled are skipped."""
    section = config["analysis"]
    catalogues = {}
    for raw in section["catalogues"]:
        cat = complete(raw, "catalogues")
        if cat["name"] in catalogues:
            raise ConfigError(f"analysis.catalogues: name {cat['name']!r} is used twice")
        catalogues[cat["name"]] = cat
    sets, skipped, names = [], [], set()
    for raw in section["embeddings"]:
        s = complete(raw, "embeddings")
        if s["name"] in names:
            raise ConfigError(f"analysis.embeddings: name {s['name']!r} is used twice")
        names.add(s["name"])
        if s["catalogue"] not in catalogues:
            raise ConfigError(f"analysis.embeddings: {s['name']!r} names unknown catalogue {s['catalogue']!r} "
                              f"(known: {', '.join(catalogues) or 'none'})")
        if s["format"] in ("aion", "astropt") and not s["key"]:
            raise ConfigError(f"analysis.embeddings: {s['name']!r} ({s['format']}) needs `key`")
        if s["format"] == "astroclip" and not s["valid_indices"]:
            raise ConfigError(f"analysis.embeddings: {s['name']!r} (astroclip) needs `valid_indices`")
        why = _study_missing(s, config) or _study_missing(catalogues[s["catalogue"]], config)
        if why:
            skipped.append({"name": s["name"], "reason": why})
        else:
            sets.append(s)
    used = {s["catalogue"] for s in sets}
    return Plan(sets, {k: v for k, v in catalogues.items() if k in used}, skipped)


def input_files(entry: dict, config: dict) -> list[str]:
    """Every file an embedding set is read from (Snakemake derives the dependencies from these)."""
    path = resolve_path(entry, config)
    files = [path]
    if entry["format"] == "skytext":
        files.append(path.rsplit(".", 1)[0] + ".parquet")
    for extra in ("ids", "valid_indices"):
        if entry.get(extra):
            files.append(entry[extra])
    if entry["format"] == "table" and path.endswith(".npy") and not entry["ids"]:
        files.append(path.rsplit(".", 1)[0] + ".parquet")
    return files
