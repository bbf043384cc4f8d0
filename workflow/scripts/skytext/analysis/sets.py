"""The effective embedding sets and catalogues of a checked config, and the analysis section's cross-key rules.

:func:`skytext.core.config.check` validates the section against ``workflow/schemas/studies/analysis.schema.yaml``
and fills every default, inside the ``embeddings``/``catalogues`` items too; :func:`check_config` holds the
rules a JSON schema cannot say (unique names, references between items, keys one format needs) and is run by
``check`` (``CROSS_CHECKS["analysis"]``). :func:`plan` only decides: skytext sets of studies that are not
enabled are skipped, and said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skytext.core.config import ConfigError


@dataclass
class Plan:
    """The sets to analyse, the catalogues they name, and the sets skipped with the reason."""

    sets: list[dict]
    catalogues: dict[str, dict]
    skipped: list[dict] = field(default_factory=list)  # {"name", "reason"}


def resolve_path(entry: dict, config: dict) -> str:
    """The file an entry names: results/<study>/<source>/<path> for skytext, else the path as given."""
    if entry["format"] == "skytext":
        return f"results/{entry['study']}/{config[entry['study']]['source']}/{entry['path']}"
    return entry["path"]


def _unique(items: list[dict], where: str) -> None:
    seen = set()
    for item in items:
        if item["name"] in seen:
            raise ConfigError(f"{where}: name {item['name']!r} is used twice")
        seen.add(item["name"])


def check_config(config: dict) -> None:
    """Raise ConfigError (one line, naming the key) where the ``analysis`` section breaks a rule that compares
    keys: a name used twice, a set naming an unknown catalogue, a skytext item without ``study``, an aion set or
    an astropt ``.npz`` without ``key``, an astroclip set without ``valid_indices``."""
    section = config["analysis"]
    _unique(section["catalogues"], "analysis.catalogues")
    _unique(section["embeddings"], "analysis.embeddings")
    known = {c["name"] for c in section["catalogues"]}
    for where in ("analysis.catalogues", "analysis.embeddings"):
        items = section[where.split(".")[1]]
        for item in items:
            if item["format"] == "skytext" and not item["study"]:
                raise ConfigError(f"{where}: {item['name']!r} has format skytext but no study")
    for s in section["embeddings"]:
        if s["catalogue"] not in known:
            raise ConfigError(f"analysis.embeddings: {s['name']!r} names unknown catalogue {s['catalogue']!r} "
                              f"(known: {', '.join(sorted(known)) or 'none'})")
        if not s["key"] and (s["format"] == "aion" or (s["format"] == "astropt" and s["path"].endswith(".npz"))):
            raise ConfigError(f"analysis.embeddings: {s['name']!r} ({s['format']}) needs `key`")
        if s["format"] == "astroclip" and not s["valid_indices"]:
            raise ConfigError(f"analysis.embeddings: {s['name']!r} (astroclip) needs `valid_indices`")


def _study_missing(entry: dict, config: dict) -> str | None:
    study = entry["study"] if entry["format"] == "skytext" else None
    if study and (study not in config["studies"] or study not in config):
        return f"study {study!r} is not enabled (config studies: {', '.join(config['studies'])})"
    return None


def plan(config: dict) -> Plan:
    """The sets and catalogues to analyse in a checked config; sets whose study (or catalogue's study) is not
    enabled are skipped with the reason."""
    catalogues = {c["name"]: c for c in config["analysis"]["catalogues"]}
    sets, skipped = [], []
    for s in config["analysis"]["embeddings"]:
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
    if not entry["ids"] and path.endswith(".npy"):
        if entry["format"] == "table":
            files.append(path.rsplit(".", 1)[0] + ".parquet")
        elif entry["format"] == "astropt":
            files.append(path.rsplit("/", 1)[0] + "/ids.npy" if "/" in path else "ids.npy")
    return files
