# Gather acquisition shards (any source) into the dataset contract, split by proposal.


rule dataset:
    input:
        observations=expand(
            f"{IMG_RES}/acquire/shards/{{shard}}/observations.parquet", shard=SHARDS
        ),
        rejects=expand(
            f"{IMG_RES}/acquire/shards/{{shard}}/rejects.parquet", shard=SHARDS
        ),
        proposals=f"{IMG_RES}/acquire/proposals.parquet",
        proposal_rejects=f"{IMG_RES}/acquire/proposal_rejects.parquet",
    output:
        observations=f"{IMG_RES}/dataset/observations.parquet",
        proposals=f"{IMG_RES}/dataset/proposals.parquet",
        rejects=f"{IMG_RES}/dataset/rejects.parquet",
        summary=f"{IMG_RES}/dataset/summary.json",
    log:
        f"{IMG_LOGS}/dataset/all.log",
    benchmark:
        f"{IMG_RES}/benchmarks/dataset/all.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        # build_dataset reads every leaf of images.dataset
        dataset=leaves(
            "images/dataset",
            "val_fraction",
            "test_fraction",
            "min_abstract_chars",
            "max_abstract_chars",
            "verify_images",
        ),
        seed=config["seed"],
    script:
        "../../scripts/dataset.py"
