# Evaluation: classification.json per method (Real = positive, orientation written out, bootstrap CIs),
# refinement counts, judge coherence vs correctness, repeatability, cost per 1,000 triplets; report figures.


rule transients_evaluate:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
        prompt=TRN_PROMPT_FILES,
        answers=expand(
            f"{TRN_RES}/llm/shards/{{lshard}}/answers.parquet", lshard=TRN_LLM_SHARDS
        ),
        classify_rejects=expand(
            f"{TRN_RES}/llm/shards/{{lshard}}/rejects.parquet", lshard=TRN_LLM_SHARDS
        ),
        classify_runs=expand(
            f"{TRN_RES}/llm/shards/{{lshard}}/run.json", lshard=TRN_LLM_SHARDS
        ),
        verdicts=expand(
            f"{TRN_RES}/llm/shards/{{lshard}}/verdicts.parquet", lshard=TRN_LLM_SHARDS
        ),
        refined=expand(
            f"{TRN_RES}/llm/shards/{{lshard}}/refined.parquet", lshard=TRN_LLM_SHARDS
        ),
        judge_rejects=expand(
            f"{TRN_RES}/llm/shards/{{lshard}}/judge_rejects.parquet",
            lshard=TRN_LLM_SHARDS,
        ),
        judge_runs=expand(
            f"{TRN_RES}/llm/shards/{{lshard}}/judge_run.json", lshard=TRN_LLM_SHARDS
        ),
        repeat=f"{TRN_RES}/llm/repeat.parquet",
        repeat_rejects=f"{TRN_RES}/llm/repeat_rejects.parquet",
        repeat_run=f"{TRN_RES}/llm/repeat_run.json",
        features=f"{TRN_RES}/features/predictions.parquet",
        cnn=f"{TRN_RES}/cnn/predictions.parquet",
        knn=f"{TRN_RES}/knn/predictions.parquet",
    output:
        results=[f"{TRN_RES}/eval/{m}/classification.json" for m in TRN_METHODS],
        summary=f"{TRN_RES}/eval/summary.json",
        table=f"{TRN_RES}/eval/comparison.csv",
        html=report(
            f"{TRN_RES}/eval/comparison.html",
            caption="../../report/transients_comparison.rst",
            category="transients",
        ),
        confusion=report(
            f"{TRN_RES}/eval/confusion.png",
            caption="../../report/transients_confusion.rst",
            category="transients",
        ),
        gallery=report(
            f"{TRN_RES}/eval/gallery.png",
            caption="../../report/transients_gallery.rst",
            category="transients",
        ),
    log:
        f"{TRN_LOGS}/transients_evaluate/all.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_evaluate/all.tsv"
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        source=lookup(dpath="transients/source", within=config),
        eval_cfg=leaves("transients/eval", "split", "n_boot", "gallery"),
        backends={
            "classify": TRN["classify"]["backend"],
            "judge": TRN["judge"]["backend"],
        },
        refine_below=lookup(dpath="transients/judge/refine_below", within=config),
        repeat_temperature=lookup(dpath="transients/repeat/temperature", within=config),
        n_examples=lookup(dpath="transients/prompt/n_examples", within=config),
        render=leaves("transients/prompt", "stretch", "scale", "marker"),
        cost=leaves(
            "transients/cost",
            "models",
            "image_tokens",
            "default_image_tokens",
            "output_tokens",
        ),
        # the configured model is priced too when the study asks it
        llm_model=config["llm"]["model"] if TRN_ASKS["classify"] else None,
        prices=lookup(dpath="llm/prices", within=config),
        seed=config["seed"],
    script:
        "../../scripts/transients_evaluate.py"


rule transients:
    input:
        transients_targets(),
