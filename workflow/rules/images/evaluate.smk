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
        eval=leaves("images/eval", "recall_at", "n_boot", "chunk_size"),
        seed=config["seed"],
        split=EVAL_SPLIT,
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
        proposals=f"{IMG_RES}/dataset/proposals.parquet",
        # the anchors a query is routed through: the training captions of the model's caption type
        captions=lambda wc: f"{IMG_RES}/captions/{model_caption(wc.model) or CAPTIONS[0]}.parquet",
        class_queries="resources/search/class_queries.txt",
        offtopic_queries="resources/search/offtopic_queries.txt",
        templates="resources/vocab/query_templates.txt",
        stop_words="resources/search/stop_words.txt",
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
        k=lookup(dpath="images/search/k", within=config),
        n_anchors=lookup(dpath="images/search/n_anchors", within=config),
        min_precision=lookup(dpath="images/search/min_precision", within=config),
        chunk_size=lookup(dpath="images/eval/chunk_size", within=config),
        device="cpu",  # not a setting: the rule asks for no GPU, and the search is a few hundred queries
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
        eval=leaves("images/eval", "recall_at", "n_boot"),
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
        gpu=min(1, config["resources"]["gpu"]),
    params:
        # phrases and queries are embedded as the captions are
        embed=leaves("images/embed", "batch_size", "device", "precision"),
        describe_k=lookup(dpath="images/explore/describe_k", within=config),
        gallery_k=lookup(dpath="images/explore/gallery_k", within=config),
        chunk_size=lookup(dpath="images/eval/chunk_size", within=config),
        seed=config["seed"],
    script:
        "../../scripts/explore.py"


rule images:
    input:
        images_targets(),
