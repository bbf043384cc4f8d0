# One seeded UMAP fit per set (same settings for every set), reused by every panel and the correlations.


rule analysis_umap:
    input:
        embeddings=f"{ANA_RES}/{{aset}}/embeddings.npy",
        objects=f"{ANA_RES}/{{aset}}/objects.parquet",
        counts=f"{ANA_RES}/{{aset}}/counts.json",
    output:
        coords=f"{ANA_RES}/{{aset}}/umap.parquet",
        notes=f"{ANA_RES}/{{aset}}/umap_notes.json",
    log:
        f"{ANA_LOGS}/umap/{{aset}}.log",
    benchmark:
        f"{ANA_RES}/benchmarks/umap/{{aset}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: ANA["threads"]
    resources:
        mem_mb=ANA["mem_mb"],
        runtime=60,
    params:
        umap=leaves(
            "analysis/umap",
            "n_neighbors",
            "min_dist",
            "metric",
            "max_objects",
            "low_memory",
        ),
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/analysis_umap.py"
