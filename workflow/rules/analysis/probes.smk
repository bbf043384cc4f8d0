# Zero-shot kNN, linear and MLP probes per set (R²/MAE, accuracy/balanced accuracy, bootstrap CIs), and the
# Spearman correlations of each property with the linear projection and the UMAP axes.


rule analysis_probes:
    input:
        embeddings=f"{ANA_RES}/{{aset}}/embeddings.npy",
        objects=f"{ANA_RES}/{{aset}}/objects.parquet",
        counts=f"{ANA_RES}/{{aset}}/counts.json",
    output:
        probes=f"{ANA_RES}/{{aset}}/probes.csv",
        predictions=f"{ANA_RES}/{{aset}}/predictions.parquet",
        notes=f"{ANA_RES}/{{aset}}/probes_notes.json",
    log:
        f"{ANA_LOGS}/probes/{{aset}}.log",
    benchmark:
        f"{ANA_RES}/benchmarks/probes/{{aset}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: ANA["threads"]
    resources:
        mem_mb=ANA["mem_mb"],
        runtime=60,
    params:
        probes=leaves(
            "analysis/probes",
            "min_objects",
            "knn_k",
            "knn_weights",
            "knn_metric",
            "knn_backend",
            "standardise",
            "ridge_alphas",
            "mlp_hidden",
            "mlp_alphas",
            "mlp_max_iter",
            "mlp_max_train",
            "methods",
            "n_boot",
            "ci",
        ),
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/analysis_probes.py"


rule analysis_correlations:
    input:
        counts=[analysis_prepared(n) for n in ANA_NAMES],
        objects=[f"{ANA_RES}/{n}/objects.parquet" for n in ANA_NAMES],
        predictions=[f"{ANA_RES}/{n}/predictions.parquet" for n in ANA_NAMES],
        coords=[f"{ANA_RES}/{n}/umap.parquet" for n in ANA_NAMES],
    output:
        table=f"{ANA_RES}/correlations.csv",
        figure=report(
            f"{ANA_RES}/correlations.png",
            caption="../../report/analysis_correlations.rst",
            category="analysis",
            subcategory="Correlations",
        ),
    log:
        f"{ANA_LOGS}/correlations/all.log",
    benchmark:
        f"{ANA_RES}/benchmarks/correlations/all.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/analysis_correlations.py"
