# Acquisition: triplet shards (.npy cutouts + a row-aligned table), one job per shard, from the configured
# source (demo: drawn; meerlicht: the Zenodo files fetched once into transients.meerlicht.download_dir, then
# validated and split into shards); then the dataset: every triplet checked (rejects with reasons) and split by a seeded hash.


if TRN["source"] == "demo":

    rule transients_demo:
        output:
            triplets=f"{TRN_RES}/acquire/shards/{{tshard}}/triplets.npy",
            meta=f"{TRN_RES}/acquire/shards/{{tshard}}/triplets.parquet",
            rejects=f"{TRN_RES}/acquire/shards/{{tshard}}/rejects.parquet",
        log:
            f"{TRN_LOGS}/transients_demo/{{tshard}}.log",
        benchmark:
            f"{TRN_RES}/benchmarks/transients_demo/{{tshard}}.tsv"
        wildcard_constraints:
            tshard=r"\d+",
        conda:
            "../../envs/transients.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        params:
            demo=leaves("transients/demo", "n_triplets", "size", "bad_triplets"),
            seed=config["seed"],
            shard=lambda wc: wc.tshard,
            shards=len(TRN_SHARDS),
        script:
            "../../scripts/transients_demo.py"


if TRN["source"] == "meerlicht":

    rule transients_meerlicht_fetch:
        output:
            fetch=f"{TRN_RES}/acquire/fetch.json",
        log:
            f"{TRN_LOGS}/transients_meerlicht_fetch/all.log",
        benchmark:
            f"{TRN_RES}/benchmarks/transients_meerlicht_fetch/all.tsv"
        conda:
            "../../envs/transients.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=120,
        params:
            meerlicht=leaves(
                "transients/meerlicht",
                "base_url",
                "images_file",
                "labels_file",
                "images_hash",
                "labels_hash",
                "download_dir",
                "download",  # whole: every retry setting of the download is read
            ),
        script:
            "../../scripts/transients_meerlicht_fetch.py"

    rule transients_meerlicht:
        input:
            fetch=f"{TRN_RES}/acquire/fetch.json",
        output:
            triplets=f"{TRN_RES}/acquire/shards/{{tshard}}/triplets.npy",
            meta=f"{TRN_RES}/acquire/shards/{{tshard}}/triplets.parquet",
            rejects=f"{TRN_RES}/acquire/shards/{{tshard}}/rejects.parquet",
            summary=f"{TRN_RES}/acquire/shards/{{tshard}}/summary.json",
        log:
            f"{TRN_LOGS}/transients_meerlicht/{{tshard}}.log",
        benchmark:
            f"{TRN_RES}/benchmarks/transients_meerlicht/{{tshard}}.tsv"
        wildcard_constraints:
            tshard=r"\d+",
        conda:
            "../../envs/transients.yaml"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=20,
        params:
            meerlicht=leaves(
                "transients/meerlicht",
                "layout",
                "channels",
                "size",
                "id_column",
                "label_column",
                "real_values",
                "bogus_values",
                "match_case",
                "expected_n",
                "expected_real",
                "expected_bogus",
            ),
            shard=lambda wc: wc.tshard,
            shards=len(TRN_SHARDS),
        script:
            "../../scripts/transients_meerlicht.py"


rule transients_dataset:
    input:
        meta=expand(
            f"{TRN_RES}/acquire/shards/{{tshard}}/triplets.parquet", tshard=TRN_SHARDS
        ),
        rejects=expand(
            f"{TRN_RES}/acquire/shards/{{tshard}}/rejects.parquet", tshard=TRN_SHARDS
        ),
    output:
        triplets=f"{TRN_RES}/dataset/triplets.parquet",
        rejects=f"{TRN_RES}/dataset/rejects.parquet",
        summary=f"{TRN_RES}/dataset/summary.json",
    log:
        f"{TRN_LOGS}/transients_dataset/all.log",
    benchmark:
        f"{TRN_RES}/benchmarks/transients_dataset/all.tsv"
    conda:
        "../../envs/transients.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        split=leaves("transients/split", "val_fraction", "test_fraction"),
        seed=config["seed"],
        size=lookup(dpath=f"transients/{TRN['source']}/size", within=config),
    script:
        "../../scripts/transients_dataset.py"
