# Baselines: a small CNN trained on the train split (model chosen on val), and a kNN on its embeddings
# (L2-normalised, written beside their ids for other studies; its own rule, so transients.knn.k does not
# retrain the CNN).


rule transients_cnn:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
    output:
        cnn=f"{TRN_RES}/cnn/predictions.parquet",
        embeddings=f"{TRN_RES}/cnn/embeddings.npy",
        ids=f"{TRN_RES}/cnn/embeddings.parquet",
        curve=f"{TRN_RES}/cnn/curve.csv",
        weights=f"{TRN_RES}/cnn/model.pt",
    log:
        f"{TRN_LOGS}/transients_cnn/all.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_cnn/all.tsv"
    conda:
        "../../envs/transients.yaml"
    threads: config["resources"]["transients"]["train_threads"]
    resources:
        mem_mb=config["resources"]["transients"]["train_mem_mb"],
        runtime=config["resources"]["transients"]["train_runtime"],
        gpu=config["resources"]["gpu"],
    params:
        cnn=leaves(
            "transients/cnn",
            "crop",
            "channels",
            "embed_dim",
            "epochs",
            "batch_size",
            "lr",
            "weight_decay",
            "tta",
            "device",
        ),
        eval_split=lookup(dpath="transients/eval/split", within=config),
        seed=config["seed"],
    script:
        "../../scripts/transients_cnn.py"


rule transients_knn:
    input:
        embeddings=f"{TRN_RES}/cnn/embeddings.npy",
        ids=f"{TRN_RES}/cnn/embeddings.parquet",
    output:
        knn=f"{TRN_RES}/knn/predictions.parquet",
    log:
        f"{TRN_LOGS}/transients_knn/all.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_knn/all.tsv"
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        k=lookup(dpath="transients/knn/k", within=config),
        eval_split=lookup(dpath="transients/eval/split", within=config),
    script:
        "../../scripts/transients_knn.py"
