# Shared helpers: config checking (one line naming the culprit, before any job runs), paths, model names.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from skytext.core.config import ConfigError, check  # noqa: E402
from skytext.llm import check_config as check_llm_config  # noqa: E402

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"
try:
    check(config, SCHEMAS)
    check_llm_config(config["llm"], config["captions"])
except (ConfigError, ValueError) as exc:
    sys.exit(f"config error: {exc}")
validate(config, str(SCHEMAS / "config.schema.yaml"))
for _section in sorted((SCHEMAS / "sections").glob("*.schema.yaml")):
    validate(config[_section.name.removesuffix(".schema.yaml")], str(_section))

SRC = config["source"]
RES = f"results/{SRC}"
LOGS = f"logs/{SRC}"
SHARDS = [str(i) for i in range(config["shards"])]
CAPTIONS = list(config["captions"])
SPLITS = ["val", "test"]
EVAL_SPLIT = config["eval"]["split"]
EMBED_SHARDS = [str(i) for i in range(config["embed"]["shards"])]
TRAINED = [f"{mode}-{cap}" for cap in CAPTIONS for mode in config["train"]["modes"]]
MODELS = ["base"] + TRAINED


wildcard_constraints:
    shard=r"\d+",
    part=r"\d+",
    split="|".join(SPLITS),
    caption="|".join(CAPTIONS),
    model="|".join(MODELS),


def model_caption(model):
    """The caption type a model was trained on (None for the untrained base)."""
    return None if model == "base" else model.split("-", 1)[1]


def eval_pairs():
    """(model, caption) pairs to evaluate: base on every caption type, each trained model on its own."""
    pairs = [("base", cap) for cap in CAPTIONS]
    return pairs + [(m, model_caption(m)) for m in TRAINED]


def caption_inputs(wildcards):
    inputs = {"proposals": f"{RES}/dataset/proposals.parquet"}
    if wildcards.caption == "summary":
        inputs["summaries"] = f"{RES}/llm/summaries.parquet"
    return inputs


def model_inputs(wildcards):
    spec = f"{RES}/models/{wildcards.model}/model.json"
    if wildcards.model == "base":
        return {"spec": spec}
    return {"spec": spec, "weights": f"{RES}/models/{wildcards.model}/model.pt"}


def all_targets():
    return (
        [
            f"{RES}/eval/retrieval.json",
            f"{RES}/eval/comparison.csv",
            f"{RES}/eval/retrieval_curves.png",
        ]
        + [f"{RES}/models/{m}/training_curves.png" for m in TRAINED]
        + [f"{RES}/explore/{m}/summary.json" for m in MODELS]
    )
