# Similarity search: a few query objects per class, their top-k cosine neighbours (thumbnails when the set
# has images); one strip per set.


rule analysis_search:
    input:
        counts=[analysis_prepared(n) for n in ANA_NAMES],
        embeddings=[f"{ANA_RES}/{n}/embeddings.npy" for n in ANA_NAMES],
        objects=[f"{ANA_RES}/{n}/objects.parquet" for n in ANA_NAMES],
    output:
        table=f"{ANA_RES}/search.csv",
        figures=report(
            directory(f"{ANA_RES}/search"),
            patterns=["{name}.png"],
            caption="../../report/analysis_search.rst",
            category="analysis",
            subcategory="Similarity search",
        ),
    log:
        f"{ANA_LOGS}/search/all.log",
    benchmark:
        f"{ANA_RES}/benchmarks/search/all.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=ANA["mem_mb"],
        runtime=30,
    params:
        search=leaves("analysis/search", "per_class", "max_queries", "k"),
        seed=lookup(dpath="seed", within=config),
    script:
        "../../scripts/analysis_search.py"
