# The image study (PAPERCLIP): paths, model names and targets. Results under results/images/<source>/.

from skytext.llm.runner import transient_reject_ids  # noqa: E402

IMG = config["images"]
IMG_RES, IMG_LOGS = study_dirs("images")
CAPTIONS = list(IMG["captions"])
SPLITS = ["val", "test"]
EVAL_SPLIT = IMG["eval"]["split"]
EMBED_SHARDS = [str(i) for i in range(IMG["embed"]["shards"])]
TRAINED = [f"{mode}-{cap}" for cap in CAPTIONS for mode in IMG["train"]["modes"]]
MODELS = ["base"] + TRAINED


wildcard_constraints:
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
    """The captions rule's inputs: the proposals, and the LLM summaries (a list, empty unless ``summary``)."""
    summaries = (
        [f"{IMG_RES}/llm/summaries.parquet"] if wildcards.caption == "summary" else []
    )
    return {"proposals": f"{IMG_RES}/dataset/proposals.parquet", "summaries": summaries}


def model_inputs(wildcards):
    """A model's spec, plus its weights for a trained model."""
    spec = f"{IMG_RES}/models/{wildcards.model}/model.json"
    if wildcards.model == "base":
        return {"spec": spec}
    return {"spec": spec, "weights": f"{IMG_RES}/models/{wildcards.model}/model.pt"}


def search_tables():
    """Search evaluations (class queries, calibrated scores) per model: on the demo, whose classes are known."""
    if IMG["source"] != "demo":
        return []
    return [f"{IMG_RES}/eval/search/{m}.csv" for m in MODELS]


def images_targets():
    """The image study's final outputs (target rule ``images``)."""
    return (
        [
            f"{IMG_RES}/eval/retrieval.json",
            f"{IMG_RES}/eval/comparison.csv",
            f"{IMG_RES}/eval/retrieval_curves.png",
        ]
        + [f"{IMG_RES}/models/{m}/training_curves.png" for m in TRAINED]
        + [f"{IMG_RES}/explore/{m}/summary.json" for m in MODELS]
    )


STUDY_TARGETS["images"] = images_targets
