# Embeddings of the val/test observations and captions, per model (aligned ids beside each array).
# Images are embedded in config embed.shards jobs per model and split (contiguous slices), then joined.


rule embed_image_part:
    input:
        unpack(model_inputs),
        observations=f"{RES}/dataset/observations.parquet",
    output:
        embeddings=temp(f"{RES}/embed/{{model}}/{{split}}/parts/images-{{part}}.npy"),
        ids=temp(f"{RES}/embed/{{model}}/{{split}}/parts/images-{{part}}.parquet"),
    log:
        f"{LOGS}/embed_images/{{model}}-{{split}}-{{part}}.log",
    benchmark:
        f"{RES}/benchmarks/embed_images/{{model}}-{{split}}-{{part}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["embed_mem_mb"],
        runtime=60,
        gpu=min(1, config["resources"]["gpu"]),
    params:
        embed=config["embed"],
        parts=len(EMBED_SHARDS),
    script:
        "../scripts/embed.py"


rule embed_images:
    input:
        unpack(model_inputs),
        embeddings=expand(
            f"{RES}/embed/{{{{model}}}}/{{{{split}}}}/parts/images-{{part}}.npy",
            part=EMBED_SHARDS,
        ),
        ids=expand(
            f"{RES}/embed/{{{{model}}}}/{{{{split}}}}/parts/images-{{part}}.parquet",
            part=EMBED_SHARDS,
        ),
    output:
        embeddings=f"{RES}/embed/{{model}}/{{split}}/images.npy",
        ids=f"{RES}/embed/{{model}}/{{split}}/images.parquet",
        spec=f"{RES}/embed/{{model}}/{{split}}/model.json",
    log:
        f"{LOGS}/embed_images/{{model}}-{{split}}.log",
    benchmark:
        f"{RES}/benchmarks/embed_images/{{model}}-{{split}}.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["embed_mem_mb"],
        runtime=10,
    script:
        "../scripts/join_embeddings.py"


rule embed_texts:
    input:
        unpack(model_inputs),
        captions=f"{RES}/captions/{{caption}}.parquet",
        proposals=f"{RES}/dataset/proposals.parquet",
    output:
        embeddings=f"{RES}/embed/{{model}}/{{split}}/texts_{{caption}}.npy",
        ids=f"{RES}/embed/{{model}}/{{split}}/texts_{{caption}}.parquet",
    log:
        f"{LOGS}/embed_texts/{{model}}-{{split}}-{{caption}}.log",
    benchmark:
        f"{RES}/benchmarks/embed_texts/{{model}}-{{split}}-{{caption}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["embed_mem_mb"],
        runtime=30,
        gpu=min(1, config["resources"]["gpu"]),
    params:
        embed=config["embed"],
    script:
        "../scripts/embed.py"
