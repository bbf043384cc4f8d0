# Shared by every study: the config is checked once (types from --config coerced, every default filled in
# from the schema, cross-field rules, one line naming the culprit) before any job runs; then each rule takes
# as params only the config leaves its code reads (lookup / leaves below) and writes under
# results/<study>/<source>/.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from skytext.core.config import ConfigError, check  # noqa: E402

try:
    check(config, Path(workflow.basedir) / "workflow" / "schemas")
except (ConfigError, ValueError) as exc:
    sys.exit(f"config error: {exc}")

STUDIES = list(config["studies"])
SHARDS = [str(i) for i in range(config["shards"])]
STUDY_TARGETS = (
    {}
)  # study -> function returning its final outputs; each study's rules register theirs


def study_dirs(study):
    """(results, logs) folders of a study for its configured source: results/<study>/<source>, logs/..."""
    source = config[study]["source"]
    return f"results/{study}/{source}", f"logs/{study}/{source}"


wildcard_constraints:
    shard=r"\d+",
    part=r"\d+",


def leaves(dpath, *keys):
    """The named leaves of the config section at ``dpath`` ("images/train") as a dict, for a rule's params.

    A rule's params hold only the config leaves its code reads, so changing any other key of the section
    does not rerun it (Snakemake's params trigger compares the values it stored).
    """
    section = lookup(dpath=dpath, within=config)
    missing = [k for k in keys if k not in section]
    if missing:
        raise KeyError(
            f"leaves({dpath!r}): no key {missing[0]!r} in that config section"
        )
    return {k: section[k] for k in keys}
