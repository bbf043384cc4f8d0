# Retrieval evaluation per model x caption, then one comparison across models with baselines.


rule evaluate:
    input:
        images=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/images.npy",
        image_ids=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/images.parquet",
        texts=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/texts_{{caption}}.npy",
        text_ids=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/texts_{{caption}}.parquet",
    output:
        result=f"{IMG_RES}/eval/{{model}}/{{caption}}.json",
    log:
        f"{IMG_LOGS}/evaluate/{{model}}-{{caption}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/evaluate/{{model}}-{{caption}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        eval=IMG["eval"],
        seed=config["seed"],
        split=EVAL_SPLIT,
        model=lambda wc: wc.model,
        caption=lambda wc: wc.caption,
    script:
        "../../scripts/evaluate.py"


rule search_eval:
    input:
        spec=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/model.json",
        val_images=f"{IMG_RES}/embed/{{model}}/val/images.npy",
        val_image_ids=f"{IMG_RES}/embed/{{model}}/val/images.parquet",
        test_images=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/images.npy",
        test_image_ids=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/images.parquet",
        observations=f"{IMG_RES}/dataset/observations.parquet",
        templates="resources/vocab/query_templates.txt",
        background="resources/vocab/descriptions.txt",
        null_queries="resources/vocab/null_queries.txt",
    output:
        json=f"{IMG_RES}/eval/search/{{model}}.json",
        table=f"{IMG_RES}/eval/search/{{model}}.csv",
    log:
        f"{IMG_LOGS}/search_eval/{{model}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/search_eval/{{model}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        model=lambda wc: wc.model,
    script:
        "../../scripts/search_eval.py"


rule compare:
    input:
        results=[f"{IMG_RES}/eval/{m}/{c}.json" for m, c in eval_pairs()],
        observations=f"{IMG_RES}/dataset/observations.parquet",
        proposals=f"{IMG_RES}/dataset/proposals.parquet",
        search=search_tables(),
    output:
        json=f"{IMG_RES}/eval/retrieval.json",
        table=f"{IMG_RES}/eval/comparison.csv",
        html=report(
            f"{IMG_RES}/eval/comparison.html",
            caption="../../report/comparison.rst",
            category="images",
            subcategory="Retrieval",
            labels={"table": "models and baselines"},
        ),
        curves=report(
            f"{IMG_RES}/eval/retrieval_curves.png",
            caption="../../report/curves.rst",
            category="images",
            subcategory="Retrieval",
            labels={"figure": "top-k % curves"},
        ),
    log:
        f"{IMG_LOGS}/compare/all.log",
    benchmark:
        f"{IMG_RES}/benchmarks/compare/all.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        eval=IMG["eval"],
        seed=config["seed"],
        split=EVAL_SPLIT,
    script:
        "../../scripts/compare.py"


rule explore:
    input:
        unpack(model_inputs),
        images=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/images.npy",
        image_ids=f"{IMG_RES}/embed/{{model}}/{EVAL_SPLIT}/images.parquet",
        texts=lambda wc: f"{IMG_RES}/embed/{wc.model}/{EVAL_SPLIT}/texts_{model_caption(wc.model) or CAPTIONS[0]}.npy",
        text_ids=lambda wc: f"{IMG_RES}/embed/{wc.model}/{EVAL_SPLIT}/texts_{model_caption(wc.model) or CAPTIONS[0]}.parquet",
        descriptions="resources/vocab/descriptions.txt",
        queries="resources/vocab/queries.txt",
    output:
        descriptions=f"{IMG_RES}/explore/{{model}}/descriptions.csv",
        summary=f"{IMG_RES}/explore/{{model}}/summary.json",
        gallery=report(
            f"{IMG_RES}/explore/{{model}}/gallery.png",
            caption="../../report/gallery.rst",
            category="images",
            subcategory="Exploration",
            labels={"model": "{model}", "figure": "query gallery"},
        ),
        histogram=report(
            f"{IMG_RES}/explore/{{model}}/similarities.png",
            caption="../../report/similarities.rst",
            category="images",
            subcategory="Exploration",
            labels={"model": "{model}", "figure": "true vs shuffled similarities"},
        ),
    log:
        f"{IMG_LOGS}/explore/{{model}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/explore/{{model}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        seed=config["seed"],
        model=lambda wc: wc.model,
    script:
        "../../scripts/explore.py"


rule images:
    input:
        images_targets(),
