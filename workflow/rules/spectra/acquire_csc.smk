# source: csc -- the Chandra Source Catalog 2.1 (TAP), each source's observations (TAP joins) and their PHA/ARF/RMF
# (csccli browse + retrieveFile), SIMBAD bibcodes and object type, ADS abstracts. catalogue (one job) -> spectra and papers (one job per shard) -> papers gathered (one job).
# Raw files live in {SPEC_RES}/raw/, outside the declared outputs, so a rerun of a killed shard resumes.


if SPEC["source"] == "csc":

    rule spectra_csc_catalog:
        output:
            catalog=f"{SPEC_RES}/acquire/catalog.parquet",
            rejects=f"{SPEC_RES}/acquire/catalog_rejects.parquet",
            variables=f"{SPEC_RES}/acquire/variables.json",
        log:
            f"{SPEC_LOGS}/spectra_csc_catalog/all.log",
        benchmark:
            f"{SPEC_RES}/benchmarks/spectra_csc_catalog/all.tsv"
        conda:
            "../../envs/spectra.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=60,
        params:
            csc=leaves(
                "spectra/csc", "tap_url", "table", "columns", "query", "download"
            ),
        script:
            "../../scripts/spectra_csc_catalog.py"

    rule spectra_csc_spectra:
        input:
            catalog=f"{SPEC_RES}/acquire/catalog.parquet",
            response="resources/spectra",
            class_map=SPEC["csc"]["class_map"],
        output:
            observations=f"{SPEC_RES}/acquire/shards/{{spec_shard}}/observations.parquet",
            rejects=f"{SPEC_RES}/acquire/shards/{{spec_shard}}/rejects.parquet",
            papers=f"{SPEC_RES}/acquire/shards/{{spec_shard}}/papers.parquet",
            links=f"{SPEC_RES}/acquire/shards/{{spec_shard}}/links.parquet",
        log:
            f"{SPEC_LOGS}/spectra_csc_spectra/{{spec_shard}}.log",
        benchmark:
            f"{SPEC_RES}/benchmarks/spectra_csc_spectra/{{spec_shard}}.tsv"
        wildcard_constraints:
            spec_shard=r"\d+",
        conda:
            "../../envs/spectra.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=720,
        params:
            csc=leaves("spectra/csc", *CSC_SHARD_KEYS),
            n_channels=SPEC["n_channels"],
            shards=len(SPEC_SHARDS),
            raw_dir=f"{SPEC_RES}/raw",
            spec_dir=lambda wc: f"{SPEC_RES}/spectra/{wc.spec_shard}",
        script:
            "../../scripts/spectra_csc_spectra.py"

    rule spectra_csc_papers:
        input:
            papers=expand(
                f"{SPEC_RES}/acquire/shards/{{spec_shard}}/papers.parquet",
                spec_shard=SPEC_SHARDS,
            ),
            links=expand(
                f"{SPEC_RES}/acquire/shards/{{spec_shard}}/links.parquet",
                spec_shard=SPEC_SHARDS,
            ),
        output:
            papers=f"{SPEC_RES}/acquire/papers.parquet",
            links=f"{SPEC_RES}/acquire/links.parquet",
        log:
            f"{SPEC_LOGS}/spectra_csc_papers/all.log",
        benchmark:
            f"{SPEC_RES}/benchmarks/spectra_csc_papers/all.tsv"
        conda:
            "../../envs/spectra.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        script:
            "../../scripts/spectra_csc_papers.py"
