# Shared by every study: the config is checked once (types from --config coerced, every default filled in
# from the schema, one line naming the culprit) before any job runs; then each study's rules read their own
# complete section (config["<study>"]) and write under results/<study>/<source>/.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from skytext.core.config import ConfigError, check  # noqa: E402
from skytext.llm import check_config as check_llm_config  # noqa: E402

try:
    check(config, Path(workflow.basedir) / "workflow" / "schemas")
    check_llm_config(config["llm"], config["images"]["captions"])
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
