# Evaluation: retrieval both ways (Recall@k %), regression of catalogue variables (MoE), outliers, UMAP;
# the study's target rule `spectra` (its outputs: spectra_targets() in common.smk).


rule spectra:
    input:
        spectra_targets(),


rule spectra_retrieval:
    input:
        variants=[f"{SPEC_RES}/models/align/{v}.npz" for v in SPEC_VARIANTS],
        spectral_ids=f"{SPEC_RES}/embed/spectral.parquet",
        text_ids=f"{SPEC_RES}/embed/text.parquet",
        observations=f"{SPEC_RES}/dataset/observations.parquet",
    output:
        json=f"{SPEC_RES}/eval/retrieval.json",
        curves=report(
            f"{SPEC_RES}/eval/recall_curves.png",
            caption="../../report/spectra_recall.rst",
            category="spectra",
        ),
    log:
        f"{SPEC_LOGS}/spectra_retrieval/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_retrieval/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        eval=leaves(
            "spectra/eval", "split", "k_percent", "recall_at", "n_boot", "chunk_size"
        ),
        variants=SPEC_VARIANTS,
        seed=config["seed"],
    script:
        "../../scripts/spectra_retrieval.py"


rule spectra_regression:
    input:
        sources=f"{SPEC_RES}/dataset/sources.parquet",
        latent=f"{SPEC_RES}/models/ae/latent.npy",
        spectral_ids=f"{SPEC_RES}/embed/spectral.parquet",
        text=f"{SPEC_RES}/embed/text.npy",
        text_ids=f"{SPEC_RES}/embed/text.parquet",
        ensemble=f"{SPEC_RES}/models/align/ensemble.npz",
        variables=f"{SPEC_RES}/acquire/variables.json",
    output:
        table=f"{SPEC_RES}/eval/regression.csv",
        json=f"{SPEC_RES}/eval/regression.json",
        plot=report(
            f"{SPEC_RES}/eval/regression_r2.png",
            caption="../../report/spectra_regression.rst",
            category="spectra",
        ),
        predictions=f"{SPEC_RES}/eval/regression_predictions.parquet",
    log:
        f"{SPEC_LOGS}/spectra_regression/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_regression/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        regression=leaves(
            "spectra/regression", "hidden", "epochs", "lr", "weight_decay", "patience"
        ),
        text_dim=lookup(dpath="spectra/regression/text_dim", within=config),
        split=lookup(dpath="spectra/eval/split", within=config),
        n_boot=lookup(dpath="spectra/eval/n_boot", within=config),
        seed=config["seed"],
    script:
        "../../scripts/spectra_regression.py"


rule spectra_outliers:
    input:
        sources=f"{SPEC_RES}/dataset/sources.parquet",
        spectral=f"{SPEC_RES}/embed/spectral.npy",
        spectral_ids=f"{SPEC_RES}/embed/spectral.parquet",
        text=f"{SPEC_RES}/embed/text_whole.npy",
        text_ids=f"{SPEC_RES}/embed/text.parquet",
        ensemble=f"{SPEC_RES}/models/align/ensemble.npz",
        texts=expand(
            f"{SPEC_RES}/summaries/shards/{{sum_shard}}/texts.parquet",
            sum_shard=SUM_SHARDS,
        ),
        links=f"{SPEC_RES}/dataset/links.parquet",
    output:
        table=report(
            f"{SPEC_RES}/eval/outliers.csv",
            caption="../../report/spectra_outliers.rst",
            category="spectra",
        ),
        json=f"{SPEC_RES}/eval/outliers.json",
    log:
        f"{SPEC_LOGS}/spectra_outliers/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_outliers/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        method=lookup(dpath="spectra/outliers/method", within=config),
        combine=lookup(dpath="spectra/outliers/combine", within=config),
        k=lookup(dpath="spectra/outliers/k", within=config),
        top_n=lookup(dpath="spectra/outliers/top_n", within=config),
        seed=config["seed"],
    script:
        "../../scripts/spectra_outliers.py"


rule spectra_umap:
    input:
        shared=f"{SPEC_RES}/embed/shared.npy",
        shared_ids=f"{SPEC_RES}/embed/shared.parquet",
        sources=f"{SPEC_RES}/dataset/sources.parquet",
    output:
        plot=report(
            f"{SPEC_RES}/eval/umap.png",
            caption="../../report/spectra_umap.rst",
            category="spectra",
        ),
    log:
        f"{SPEC_LOGS}/spectra_umap/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_umap/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        n_neighbors=lookup(dpath="spectra/umap/n_neighbors", within=config),
        min_dist=lookup(dpath="spectra/umap/min_dist", within=config),
        seed=config["seed"],
    script:
        "../../scripts/spectra_umap.py"
