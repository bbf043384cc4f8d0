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
            category="Transients",
        ),
        confusion=report(
            f"{TRN_RES}/eval/confusion.png",
            caption="../../report/transients_confusion.rst",
            category="Transients",
        ),
        gallery=report(
            f"{TRN_RES}/eval/gallery.png",
            caption="../../report/transients_gallery.rst",
            category="Transients",
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
        tcfg=TRN,
        llm=config["llm"],
        seed=config["seed"],
        results_dir=lambda wc, output: output.summary.rsplit("/", 1)[0],
    script:
        "../../scripts/transients_evaluate.py"


rule transients:
    input:
        transients_targets(),
