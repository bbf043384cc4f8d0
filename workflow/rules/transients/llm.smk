# The LLM path: few-shot examples (train split only) -> classify (one job per llm shard) -> judge + refine
# (same shards) -> repeated runs on a subset. Backends: transients.classify.backend (features | openai |
# openai-batch) and transients.judge.backend (features | rules | openai | openai-batch); the server, key,
# retries and cache are the shared llm section. Answers are cached (llm.cache_dir/transients): a rerun makes
# no calls, and ids a shard's last run rejected for a passing reason are asked again (params `retry`).
# Each rule's params hold only the config leaves its code reads (offline backends read no llm settings).


rule transients_features:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
    output:
        model=f"{TRN_RES}/features/model.json",
        predictions=f"{TRN_RES}/features/predictions.parquet",
        train=f"{TRN_RES}/features/train.parquet",
    log:
        f"{TRN_LOGS}/transients_features/all.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_features/all.tsv"
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        eval_split=lookup(dpath="transients/eval/split", within=config),
        seed=config["seed"],
    script:
        "../../scripts/transients_features.py"


rule transients_examples:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
    output:
        examples=f"{TRN_RES}/prompt/examples.parquet",
    log:
        f"{TRN_LOGS}/transients_examples/all.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_examples/all.tsv"
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        n_examples=lookup(dpath="transients/prompt/n_examples", within=config),
        seed=config["seed"],
    script:
        "../../scripts/transients_examples.py"


rule transients_classify:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
        examples=f"{TRN_RES}/prompt/examples.parquet",
        model=f"{TRN_RES}/features/model.json",
        prompt=TRN_PROMPT_FILES,
    output:
        answers=f"{TRN_RES}/llm/shards/{{lshard}}/answers.parquet",
        rejects=f"{TRN_RES}/llm/shards/{{lshard}}/rejects.parquet",
        run=f"{TRN_RES}/llm/shards/{{lshard}}/run.json",
    log:
        f"{TRN_LOGS}/transients_classify/{{lshard}}.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_classify/{{lshard}}.tsv"
    wildcard_constraints:
        lshard=r"\d+",
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=TRN_LLM_RUNTIME,
        llm_jobs=1,
    params:
        backend=lookup(dpath="transients/classify/backend", within=config),
        max_triplets=lookup(dpath="transients/classify/max_triplets", within=config),
        eval_split=lookup(dpath="transients/eval/split", within=config),
        render=trn_render("classify"),
        llm=trn_llm("classify"),
        seed=config["seed"],
        shard=lambda wc: wc.lshard,
        shards=len(TRN_LLM_SHARDS),
        retry=trn_retry("rejects.parquet"),
    script:
        "../../scripts/transients_classify.py"


rule transients_judge:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
        examples=f"{TRN_RES}/prompt/examples.parquet",
        model=f"{TRN_RES}/features/model.json",
        judge_table=f"{TRN_RES}/features/train.parquet",
        prompt=TRN_PROMPT_FILES,
        answers=f"{TRN_RES}/llm/shards/{{lshard}}/answers.parquet",
    output:
        verdicts=f"{TRN_RES}/llm/shards/{{lshard}}/verdicts.parquet",
        refined=f"{TRN_RES}/llm/shards/{{lshard}}/refined.parquet",
        rejects=f"{TRN_RES}/llm/shards/{{lshard}}/judge_rejects.parquet",
        run=f"{TRN_RES}/llm/shards/{{lshard}}/judge_run.json",
    log:
        f"{TRN_LOGS}/transients_judge/{{lshard}}.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_judge/{{lshard}}.tsv"
    wildcard_constraints:
        lshard=r"\d+",
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=TRN_LLM_RUNTIME,
        llm_jobs=1,
    params:
        judge_backend=lookup(dpath="transients/judge/backend", within=config),
        classify_backend=lookup(dpath="transients/classify/backend", within=config),
        refine_below=lookup(dpath="transients/judge/refine_below", within=config),
        render=trn_render("judge", "classify"),
        llm=trn_llm("judge", "classify"),
        seed=config["seed"],
        retry=trn_retry("judge_rejects.parquet"),
    script:
        "../../scripts/transients_judge.py"


rule transients_repeat:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
        examples=f"{TRN_RES}/prompt/examples.parquet",
        model=f"{TRN_RES}/features/model.json",
        prompt=TRN_PROMPT_FILES,
    output:
        table=f"{TRN_RES}/llm/repeat.parquet",
        rejects=f"{TRN_RES}/llm/repeat_rejects.parquet",
        run=f"{TRN_RES}/llm/repeat_run.json",
    log:
        f"{TRN_LOGS}/transients_repeat/all.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_repeat/all.tsv"
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=TRN_LLM_RUNTIME,
        llm_jobs=1,
    params:
        backend=lookup(dpath="transients/classify/backend", within=config),
        max_triplets=lookup(dpath="transients/classify/max_triplets", within=config),
        eval_split=lookup(dpath="transients/eval/split", within=config),
        repeat=leaves("transients/repeat", "runs", "n_triplets", "temperature"),
        render=trn_render("classify"),
        llm=trn_llm("classify"),
        seed=config["seed"],
        retry=lambda wc: transient_reject_ids(f"{TRN_RES}/llm/repeat_rejects.parquet"),
    script:
        "../../scripts/transients_repeat.py"
