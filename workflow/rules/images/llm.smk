# LLM stage: structured summaries of proposal abstracts (PAPERCLIP's `summary` captions).
# proposals -> summarise (one job per shard of proposals, by stable hash of proposal_id) -> gather_summaries.
# Answers live in a content-addressed cache (llm.cache_dir, outside the declared outputs and shared by
# sources and DAGs), so a rerun, a killed job or a second workflow over the same abstracts makes no calls
# for what was answered; an interrupted Batch API job resumes polling its batch instead of paying again.
# The API key is read inside the job from the environment variable named by llm.api_key_env.

LLM = config["llm"]
LLM_SHARDS = [str(i) for i in range(LLM["shards"])]


rule summarise:
    input:
        proposals=f"{IMG_RES}/dataset/proposals.parquet",
        prompt=f"resources/prompts/{LLM['prompt']}",
        vocab=LLM["vocab"],
    output:
        summaries=f"{IMG_RES}/llm/shards/{{llm_shard}}/summaries.parquet",
        rejects=f"{IMG_RES}/llm/shards/{{llm_shard}}/rejects.parquet",
        run=f"{IMG_RES}/llm/shards/{{llm_shard}}/run.json",
    log:
        f"{IMG_LOGS}/summarise/{{llm_shard}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/summarise/{{llm_shard}}.tsv"
    wildcard_constraints:
        llm_shard=r"\d+",
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=1500 if LLM["backend"] == "openai-batch" else 240,
        llm_jobs=1,
    params:
        # every leaf of llm the client, cache and batch code read; not shards (below), prompt and vocab (inputs)
        llm={k: v for k, v in LLM.items() if k not in ("shards", "prompt", "vocab")},
        shards=len(LLM_SHARDS),
        # ids rejected for a passing reason (5xx, 429, timeout, missing batch line) in this shard's last run:
        # when the list changes Snakemake reruns the shard, so a plain rerun asks again for them
        retry=lambda wc: transient_reject_ids(
            f"{IMG_RES}/llm/shards/{wc.llm_shard}/rejects.parquet"
        ),
    script:
        "../../scripts/summarise.py"


rule gather_summaries:
    input:
        summaries=expand(
            f"{IMG_RES}/llm/shards/{{llm_shard}}/summaries.parquet",
            llm_shard=LLM_SHARDS,
        ),
        rejects=expand(
            f"{IMG_RES}/llm/shards/{{llm_shard}}/rejects.parquet", llm_shard=LLM_SHARDS
        ),
        runs=expand(
            f"{IMG_RES}/llm/shards/{{llm_shard}}/run.json", llm_shard=LLM_SHARDS
        ),
    output:
        summaries=f"{IMG_RES}/llm/summaries.parquet",
        rejects=f"{IMG_RES}/llm/rejects.parquet",
        run=f"{IMG_RES}/llm/run.json",
    log:
        f"{IMG_LOGS}/gather_summaries/all.log",
    benchmark:
        f"{IMG_RES}/benchmarks/gather_summaries/all.tsv"
    conda:
        "../../envs/llm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        prices=LLM["prices"],
    script:
        "../../scripts/gather_summaries.py"
