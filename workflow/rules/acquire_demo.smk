# source: demo -- a seeded synthetic sky written in the same dataset contract as the HST source.


if config["source"] == "demo":

    rule demo_proposals:
        output:
            proposals=f"{RES}/acquire/proposals.parquet",
            rejects=f"{RES}/acquire/proposal_rejects.parquet",
        log:
            f"{LOGS}/demo_proposals/all.log",
        benchmark:
            f"{RES}/benchmarks/demo_proposals/all.tsv"
        conda:
            "../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            demo=config["demo"],
            seed=config["seed"],
        script:
            "../scripts/demo_sky.py"

    rule demo_observations:
        output:
            observations=f"{RES}/acquire/shards/{{shard}}/observations.parquet",
            rejects=f"{RES}/acquire/shards/{{shard}}/rejects.parquet",
        log:
            f"{LOGS}/demo_observations/{{shard}}.log",
        benchmark:
            f"{RES}/benchmarks/demo_observations/{{shard}}.tsv"
        conda:
            "../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            demo=config["demo"],
            seed=config["seed"],
            shards=len(SHARDS),
            image_dir=lambda wc: f"{RES}/images/{wc.shard}",
        script:
            "../scripts/demo_sky.py"
