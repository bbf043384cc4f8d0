# Models: the untrained base (a spec only) and one fine-tuned model per training mode and caption type.


rule base_model:
    output:
        spec=f"{RES}/models/base/model.json",
    log:
        f"{LOGS}/base_model/base.log",
    benchmark:
        f"{RES}/benchmarks/base_model/base.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        model=config["model"],
        seed=config["seed"],
    script:
        "../scripts/train_model.py"


rule train:
    input:
        observations=f"{RES}/dataset/observations.parquet",
        captions=lambda wc: f"{RES}/captions/{model_caption(wc.model)}.parquet",
    output:
        weights=f"{RES}/models/{{model}}/model.pt",
        spec=f"{RES}/models/{{model}}/model.json",
        metrics=f"{RES}/models/{{model}}/metrics.csv",
        curves=report(
            f"{RES}/models/{{model}}/training_curves.png",
            caption="../report/training.rst",
            category="Training",
            labels={"model": "{model}"},
        ),
    log:
        f"{LOGS}/train/{{model}}.log",
    benchmark:
        f"{RES}/benchmarks/train/{{model}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=config["resources"]["train_runtime"],
        gpu=config["resources"]["gpu"],
    params:
        model=config["model"],
        train=config["train"],
        seed=config["seed"],
        ckpt_dir=lambda wc: f"{RES}/models/{wc.model}/checkpoints",
    script:
        "../scripts/train_model.py"
