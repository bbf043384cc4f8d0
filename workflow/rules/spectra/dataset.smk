# Gather acquisition shards (any source): read every PHA (bad ones rejected), clean papers, split by source.


rule spectra_dataset:
    input:
        observations=expand(
            f"{SPEC_RES}/acquire/shards/{{spec_shard}}/observations.parquet",
            spec_shard=SPEC_SHARDS,
        ),
        rejects=expand(
            f"{SPEC_RES}/acquire/shards/{{spec_shard}}/rejects.parquet",
            spec_shard=SPEC_SHARDS,
        ),
        catalog=f"{SPEC_RES}/acquire/catalog.parquet",
        catalog_rejects=f"{SPEC_RES}/acquire/catalog_rejects.parquet",
        papers=f"{SPEC_RES}/acquire/papers.parquet",
        links=f"{SPEC_RES}/acquire/links.parquet",
        variables=f"{SPEC_RES}/acquire/variables.json",
        response="resources/spectra",
    output:
        sources=f"{SPEC_RES}/dataset/sources.parquet",
        observations=f"{SPEC_RES}/dataset/observations.parquet",
        papers=f"{SPEC_RES}/dataset/papers.parquet",
        links=f"{SPEC_RES}/dataset/links.parquet",
        rejects=f"{SPEC_RES}/dataset/rejects.parquet",
        counts=f"{SPEC_RES}/dataset/counts.npy",
        summary=f"{SPEC_RES}/dataset/summary.json",
    log:
        f"{SPEC_LOGS}/spectra_dataset/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_dataset/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        dataset=leaves(
            "spectra/dataset", "val_fraction", "test_fraction", "min_text_chars"
        ),
        n_channels=SPEC["n_channels"],
        seed=config["seed"],
    script:
        "../../scripts/spectra_dataset.py"
