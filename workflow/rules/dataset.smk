# Gather acquisition shards (any source) into the dataset contract, split by proposal.


rule dataset:
    input:
        observations=expand(
            f"{RES}/acquire/shards/{{shard}}/observations.parquet", shard=SHARDS
        ),
        rejects=expand(f"{RES}/acquire/shards/{{shard}}/rejects.parquet", shard=SHARDS),
        proposals=f"{RES}/acquire/proposals.parquet",
        proposal_rejects=f"{RES}/acquire/proposal_rejects.parquet",
    output:
        observations=f"{RES}/dataset/observations.parquet",
        proposals=f"{RES}/dataset/proposals.parquet",
        rejects=f"{RES}/dataset/rejects.parquet",
        summary=f"{RES}/dataset/summary.json",
    log:
        f"{LOGS}/dataset/all.log",
    benchmark:
        f"{RES}/benchmarks/dataset/all.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        dataset=config["dataset"],
        seed=config["seed"],
    script:
        "../scripts/build_dataset.py"
