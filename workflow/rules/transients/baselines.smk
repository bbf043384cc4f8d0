# Baselines: a small CNN trained on the train split (model chosen on val), and a kNN on its embeddings
# (L2-normalised, written beside their ids for other studies).


rule transients_cnn:
    input:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
    output:
        cnn=f"{TRN_RES}/cnn/predictions.parquet",
        knn=f"{TRN_RES}/knn/predictions.parquet",
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
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=config["resources"]["train_runtime"],
        gpu=config["resources"]["gpu"],
    params:
        tcfg=TRN,
        seed=config["seed"],
    script:
        "../../scripts/transients_cnn.py"
