# source: demo -- a seeded synthetic sky written in the same dataset contract as the HST source.


if IMG["source"] == "demo":

    rule demo_proposals:
        output:
            proposals=f"{IMG_RES}/acquire/proposals.parquet",
            rejects=f"{IMG_RES}/acquire/proposal_rejects.parquet",
        log:
            f"{IMG_LOGS}/demo_proposals/all.log",
        benchmark:
            f"{IMG_RES}/benchmarks/demo_proposals/all.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            # DemoConfig reads every leaf of images.demo
            demo=leaves(
                "images/demo", "n_proposals", "min_images", "max_images", "image_size"
            ),
            seed=config["seed"],
        script:
            "../../scripts/demo_proposals.py"

    rule demo_observations:
        output:
            observations=f"{IMG_RES}/acquire/shards/{{shard}}/observations.parquet",
            rejects=f"{IMG_RES}/acquire/shards/{{shard}}/rejects.parquet",
        log:
            f"{IMG_LOGS}/demo_observations/{{shard}}.log",
        benchmark:
            f"{IMG_RES}/benchmarks/demo_observations/{{shard}}.tsv"
        conda:
            "../../envs/core.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            demo=leaves(
                "images/demo", "n_proposals", "min_images", "max_images", "image_size"
            ),
            seed=config["seed"],
            shards=len(SHARDS),
            image_dir=lambda wc: f"{IMG_RES}/images/{wc.shard}",
        script:
            "../../scripts/demo_observations.py"
