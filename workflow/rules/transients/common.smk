# The transients study (Stoppa et al. 2025): real/bogus triplets by a vision LLM + judge + refinement,
# against a CNN, a kNN on its embeddings and a transparent image-statistics classifier.
# Results under results/transients/<source>/.

from skytext.llm.runner import transient_reject_ids  # noqa: E402

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
# which stages ask a model (openai | openai-batch) rather than an offline backend
TRN_ASKS = {s: TRN[s]["backend"].startswith("openai") for s in ("classify", "judge")}


def trn_llm(*stages):
    """The llm settings an LLM stage reads (client, retries, sampling, cache; not prompt, vocab, backend,
    shards or prices), or {} when none of ``stages`` asks a model: an offline run never reruns for them.
    """
    if not any(TRN_ASKS[s] for s in stages):
        return {}
    return leaves(
        "llm",
        "base_url",
        "model",
        "api_key_env",
        "max_concurrency",
        "timeout_s",
        "max_retries",
        "backoff_s",
        "backoff_max_s",
        "max_schema_retries",
        "temperature",
        "max_tokens",
        "seed",
        "cache_dir",
        "cache_rejects",
        "batch",  # whole: the Batch API path reads every key of it (runner.run_batch)
    )


def trn_render(*stages):
    """How triplets are drawn for a model (transients.prompt), or {} when none of ``stages`` asks one."""
    if not any(TRN_ASKS[s] for s in stages):
        return {}
    return leaves("transients/prompt", "stretch", "scale", "marker", "detail")


def trn_retry(name):
    """A param that lists the ids a shard's last run rejected for a passing reason (5xx, 429, timeout, a
    missing batch line): when it changes Snakemake reruns the job, so a plain rerun asks again for them
    (as the image study's summarise)."""
    return lambda wc: transient_reject_ids(f"{TRN_RES}/llm/shards/{wc.lshard}/{name}")


def transients_targets():
    """The files of the transients target."""
    return [
        f"{TRN_RES}/eval/summary.json",
        f"{TRN_RES}/eval/comparison.csv",
        f"{TRN_RES}/eval/comparison.html",
        f"{TRN_RES}/eval/confusion.png",
        f"{TRN_RES}/eval/gallery.png",
    ] + [f"{TRN_RES}/eval/{m}/classification.json" for m in TRN_METHODS]


STUDY_TARGETS["transients"] = transients_targets
