# source: hst -- PAPERCLIP's real data path: HST previews from MAST paired with STScI proposal abstracts.
# abstracts -> discovery plan (one job) -> downloads (one job per shard). Images live in {IMG_RES}/images/,
# outside the declared outputs, so a rerun of a killed shard job resumes instead of starting over.


# the leaves of images.hst each job reads (DownloadPolicy: the retry leaves of images.hst.download)
RETRY_LEAVES = ("timeout_s", "retries", "backoff_s", "backoff_max_s")
DISCOVER_LEAVES = (
    "proposal_ids",
    "cycles",
    "max_images_per_proposal",
    "product_filter",
    "exclude_color",
    "fits",
    "fits_suffixes",
    "mast_url",
    "query_batch",
    "product_batch",
)


if IMG["source"] == "hst":

    rule hst_abstracts:
        output:
            proposals=f"{IMG_RES}/acquire/proposals.parquet",
            rejects=f"{IMG_RES}/acquire/proposal_rejects.parquet",
        log:
            f"{IMG_LOGS}/hst_abstracts/all.log",
        benchmark:
            f"{IMG_RES}/benchmarks/hst_abstracts/all.tsv"
        conda:
            "../../envs/hst.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            url=lookup(dpath="images/hst/abstracts_url", within=config),
            download=leaves("images/hst/download", *RETRY_LEAVES),
        script:
            "../../scripts/hst_abstracts.py"

    rule hst_discover:
        input:
            proposals=f"{IMG_RES}/acquire/proposals.parquet",
        output:
            plan=f"{IMG_RES}/acquire/plan.parquet",
            rejects=f"{IMG_RES}/acquire/plan_rejects.parquet",
        log:
            f"{IMG_LOGS}/hst_discover/all.log",
        benchmark:
            f"{IMG_RES}/benchmarks/hst_discover/all.tsv"
        conda:
            "../../envs/hst.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=240,
            mast_connections=1,
        params:
            hst={
                **leaves("images/hst", *DISCOVER_LEAVES),
                "download": leaves("images/hst/download", *RETRY_LEAVES),
            },
            shards=len(SHARDS),
            seed=(
                IMG["hst"]["seed"]
                if IMG["hst"]["seed"] is not None
                else config["seed"]
            ),
        script:
            "../../scripts/hst_discover.py"

    rule hst_download:
        input:
            plan=f"{IMG_RES}/acquire/plan.parquet",
            rejects=f"{IMG_RES}/acquire/plan_rejects.parquet",
        output:
            observations=f"{IMG_RES}/acquire/shards/{{shard}}/observations.parquet",
            rejects=f"{IMG_RES}/acquire/shards/{{shard}}/rejects.parquet",
        log:
            f"{IMG_LOGS}/hst_download/{{shard}}.log",
        benchmark:
            f"{IMG_RES}/benchmarks/hst_download/{{shard}}.tsv"
        conda:
            "../../envs/hst.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=720,
            mast_connections=1,
        params:
            hst={
                **leaves("images/hst", "mast_url", "image_size", "image_mode"),
                "download": leaves("images/hst/download", "workers", *RETRY_LEAVES),
            },
            image_dir=lambda wc: f"{IMG_RES}/images/{wc.shard}",
            quarantine_dir=lambda wc: f"{IMG_RES}/quarantine/{wc.shard}",
        script:
            "../../scripts/hst_download.py"
