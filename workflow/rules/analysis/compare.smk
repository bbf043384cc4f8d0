# Every pair of sets sharing objects (CKA, mutual kNN, per-object cosine), then the tables and figures that
# compare all sets (kNN R², UMAP panels per property and class column, summary).


rule analysis_pairs:
    input:
        counts=[analysis_prepared(n) for n in ANA_NAMES],
        embeddings=[f"{ANA_RES}/{n}/embeddings.npy" for n in ANA_NAMES],
        objects=[f"{ANA_RES}/{n}/objects.parquet" for n in ANA_NAMES],
    output:
        table=report(
            f"{ANA_RES}/pairs.csv",
            caption="../../report/analysis_pairs.rst",
            category="analysis",
            subcategory="Cross-model",
        ),
        figure=report(
            f"{ANA_RES}/pairs.png",
            caption="../../report/analysis_pairs.rst",
            category="analysis",
            subcategory="Cross-model",
        ),
        cosines=f"{ANA_RES}/pair_cosines.parquet",
    log:
        f"{ANA_LOGS}/pairs/all.log",
    benchmark:
        f"{ANA_RES}/benchmarks/pairs/all.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: ANA["threads"]
    resources:
        mem_mb=ANA["mem_mb"],
        runtime=60,
    params:
        pairs=leaves("analysis/pairs", "knn_k", "max_objects"),
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/analysis_pairs.py"


rule analysis_summary:
    input:
        counts=[analysis_prepared(n) for n in ANA_NAMES],
        objects=[f"{ANA_RES}/{n}/objects.parquet" for n in ANA_NAMES],
        probes=[f"{ANA_RES}/{n}/probes.csv" for n in ANA_NAMES],
        coords=[f"{ANA_RES}/{n}/umap.parquet" for n in ANA_NAMES],
        notes=[
            f"{ANA_RES}/{n}/{k}_notes.json"
            for n in ANA_NAMES
            for k in ("probes", "umap")
        ],
        pairs=f"{ANA_RES}/pairs.csv",
    output:
        probes=report(
            f"{ANA_RES}/probes.csv",
            caption="../../report/analysis_probes.rst",
            category="analysis",
            subcategory="Probes",
        ),
        knn_figure=report(
            f"{ANA_RES}/knn_r2.png",
            caption="../../report/analysis_probes.rst",
            category="analysis",
            subcategory="Probes",
        ),
        umap_dir=report(
            directory(f"{ANA_RES}/umap_properties"),
            patterns=["{name}.png"],
            caption="../../report/analysis_umap.rst",
            category="analysis",
            subcategory="UMAP",
        ),
        class_dir=report(
            directory(f"{ANA_RES}/umap_classes"),
            patterns=["{name}.png"],
            caption="../../report/analysis_umap.rst",
            category="analysis",
            subcategory="UMAP",
        ),
        json=f"{ANA_RES}/summary.json",
        markdown=report(
            f"{ANA_RES}/summary.md",
            caption="../../report/analysis_summary.rst",
            category="analysis",
            subcategory="Summary",
        ),
    log:
        f"{ANA_LOGS}/summary/all.log",
    benchmark:
        f"{ANA_RES}/benchmarks/summary/all.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=ANA["mem_mb"],
        runtime=30,
    params:
        skipped=ANA_PLAN.skipped,
    script:
        "../../scripts/analysis_summary.py"


rule analysis:
    input:
        analysis_targets(),
