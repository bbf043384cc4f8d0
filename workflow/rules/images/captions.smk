# Caption types (abstract, title, summary): one table each, keyed by text_id.


rule captions:
    input:
        unpack(caption_inputs),
    output:
        captions=f"{IMG_RES}/captions/{{caption}}.parquet",
        rejects=f"{IMG_RES}/captions/{{caption}}_rejects.parquet",
    log:
        f"{IMG_LOGS}/captions/{{caption}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/captions/{{caption}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        category_prefix=IMG["caption_category_prefix"],
    script:
        "../../scripts/captions.py"
