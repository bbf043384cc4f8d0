# source: demo -- a seeded synthetic X-ray sky (catalogue, papers, OGIP PHA spectra in shards).


if SPEC["source"] == "demo":

    rule spectra_demo_catalog:
        input:
            response="resources/spectra",
        output:
            catalog=f"{SPEC_RES}/acquire/catalog.parquet",
            papers=f"{SPEC_RES}/acquire/papers.parquet",
            links=f"{SPEC_RES}/acquire/links.parquet",
            rejects=f"{SPEC_RES}/acquire/catalog_rejects.parquet",
            variables=f"{SPEC_RES}/acquire/variables.json",
        log:
            f"{SPEC_LOGS}/spectra_demo_catalog/all.log",
        benchmark:
            f"{SPEC_RES}/benchmarks/spectra_demo_catalog/all.tsv"
        conda:
            "../../envs/spectra.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=SPEC["demo"],  # the whole section: the sky (simulate) and its papers read every key
            n_channels=SPEC["n_channels"],
            seed=config["seed"],
        script:
            "../../scripts/spectra_demo_catalog.py"

    rule spectra_demo_spectra:
        input:
            response="resources/spectra",
        output:
            observations=f"{SPEC_RES}/acquire/shards/{{spec_shard}}/observations.parquet",
            rejects=f"{SPEC_RES}/acquire/shards/{{spec_shard}}/rejects.parquet",
        log:
            f"{SPEC_LOGS}/spectra_demo_spectra/{{spec_shard}}.log",
        benchmark:
            f"{SPEC_RES}/benchmarks/spectra_demo_spectra/{{spec_shard}}.tsv"
        wildcard_constraints:
            spec_shard=r"\d+",
        conda:
            "../../envs/spectra.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=20,
        params:
            demo=leaves("spectra/demo", *DEMO_SKY_KEYS),
            n_channels=SPEC["n_channels"],
            seed=config["seed"],
            shards=len(SPEC_SHARDS),
            spec_dir=lambda wc: f"{SPEC_RES}/spectra/{wc.spec_shard}",
        script:
            "../../scripts/spectra_demo_spectra.py"
