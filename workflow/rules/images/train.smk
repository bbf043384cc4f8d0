# Models: the untrained base (a spec only) and one fine-tuned model per training mode and caption type.

MODEL_LEAVES = (
    "arch",
    "config_file",
    "pretrained",
    "head_hidden",
)  # what ModelSpec.from_config reads
# what TrainConfig reads, plus processes: every leaf of images.train but `modes`, which only decides which
# train jobs exist (so adding a mode plans the new model's chain and leaves the trained ones alone)
TRAIN_LEAVES = tuple(k for k in IMG["train"] if k != "modes")


rule base_model:
    input:
        # unused by the job: the untrained base sits at the same stage as the trained models, so every
        # downstream rule (embed, evaluate, explore) has one place in the DAG and the report's rule graph
        observations=f"{IMG_RES}/dataset/observations.parquet",
        captions=f"{IMG_RES}/captions/{CAPTIONS[0]}.parquet",
    output:
        spec=f"{IMG_RES}/models/base/model.json",
    log:
        f"{IMG_LOGS}/base_model/base.log",
    benchmark:
        f"{IMG_RES}/benchmarks/base_model/base.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        model=leaves("images/model", *MODEL_LEAVES),
        seed=config["seed"],
    script:
        "../../scripts/base_model.py"


rule train:
    input:
        observations=f"{IMG_RES}/dataset/observations.parquet",
        captions=lambda wc: f"{IMG_RES}/captions/{model_caption(wc.model)}.parquet",
    output:
        weights=f"{IMG_RES}/models/{{model}}/model.pt",
        spec=f"{IMG_RES}/models/{{model}}/model.json",
        metrics=f"{IMG_RES}/models/{{model}}/metrics.csv",
        curves=report(
            f"{IMG_RES}/models/{{model}}/training_curves.png",
            caption="../../report/training.rst",
            category="images",
            subcategory="Training",
            labels={"model": "{model}"},
        ),
    log:
        f"{IMG_LOGS}/train/{{model}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/train/{{model}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["images"]["train_threads"]
    resources:
        mem_mb=config["resources"]["images"]["train_mem_mb"],
        runtime=config["resources"]["images"]["train_runtime"],
        gpu=config["resources"]["gpu"],
    params:
        model=leaves("images/model", *MODEL_LEAVES),
        train=leaves("images/train", *TRAIN_LEAVES),
        seed=config["seed"],
        ckpt_dir=lambda wc: f"{IMG_RES}/models/{wc.model}/checkpoints",
    script:
        "../../scripts/train.py"
