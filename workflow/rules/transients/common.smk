# The transients study (Stoppa et al. 2025): real/bogus triplets by a vision LLM + judge + refinement,
# against a CNN, a kNN on its embeddings and a transparent image-statistics classifier.
# Results under results/transients/<source>/.

TRN = config["transients"]
TRN_RES, TRN_LOGS = study_dirs("transients")
TRN_SHARDS = [str(i) for i in range(config["shards"])]
TRN_LLM_SHARDS = [str(i) for i in range(config["llm"]["shards"])]
TRN_METHODS = ["llm", "llm-refined", "features", "cnn", "knn"]
TRN_PROMPT = f"resources/prompts/{TRN['prompt']['manifest']}"
TRN_PROMPT_FILES = [
    TRN_PROMPT,
    *[
        f"resources/prompts/transients_{p}.txt"
        for p in ("persona", "task", "instructions", "method", "judge", "refine")
    ],
]
TRN_LLM_RUNTIME = 1500 if "batch" in TRN["classify"]["backend"] else 240


def transients_targets():
    return [
        f"{TRN_RES}/eval/summary.json",
        f"{TRN_RES}/eval/comparison.csv",
        f"{TRN_RES}/eval/comparison.html",
        f"{TRN_RES}/eval/confusion.png",
        f"{TRN_RES}/eval/gallery.png",
    ] + [f"{TRN_RES}/eval/{m}/classification.json" for m in TRN_METHODS]


STUDY_TARGETS["transients"] = transients_targets
