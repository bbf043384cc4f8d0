# Embeddings of the val/test observations and captions, per model (aligned ids beside each array).
# Images are embedded in config embed.shards jobs per model and split (contiguous slices), then joined.


rule embed_image_part:
    input:
        unpack(model_inputs),
        observations=f"{IMG_RES}/dataset/observations.parquet",
    output:
        embeddings=temp(
            f"{IMG_RES}/embed/{{model}}/{{split}}/parts/images-{{part}}.npy"
        ),
        ids=temp(f"{IMG_RES}/embed/{{model}}/{{split}}/parts/images-{{part}}.parquet"),
    log:
        f"{IMG_LOGS}/embed_images/{{model}}-{{split}}-{{part}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/embed_images/{{model}}-{{split}}-{{part}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["images"]["embed_mem_mb"],
        runtime=60,
        gpu=min(1, config["resources"]["gpu"]),
    params:
        embed=leaves(
            "images/embed", "batch_size", "workers", "device", "precision", "dtype"
        ),
        parts=len(EMBED_SHARDS),
    script:
        "../../scripts/embed_image_part.py"


rule embed_images:
    input:
        unpack(model_inputs),
        embeddings=expand(
            f"{IMG_RES}/embed/{{{{model}}}}/{{{{split}}}}/parts/images-{{part}}.npy",
            part=EMBED_SHARDS,
        ),
        ids=expand(
            f"{IMG_RES}/embed/{{{{model}}}}/{{{{split}}}}/parts/images-{{part}}.parquet",
            part=EMBED_SHARDS,
        ),
    output:
        embeddings=f"{IMG_RES}/embed/{{model}}/{{split}}/images.npy",
        ids=f"{IMG_RES}/embed/{{model}}/{{split}}/images.parquet",
        spec=f"{IMG_RES}/embed/{{model}}/{{split}}/model.json",
    log:
        f"{IMG_LOGS}/embed_images/{{model}}-{{split}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/embed_images/{{model}}-{{split}}.tsv"
    conda:
        "../../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["images"]["embed_mem_mb"],
        runtime=10,
    script:
        "../../scripts/embed_images.py"


rule embed_texts:
    input:
        unpack(model_inputs),
        captions=f"{IMG_RES}/captions/{{caption}}.parquet",
        proposals=f"{IMG_RES}/dataset/proposals.parquet",
    output:
        embeddings=f"{IMG_RES}/embed/{{model}}/{{split}}/texts_{{caption}}.npy",
        ids=f"{IMG_RES}/embed/{{model}}/{{split}}/texts_{{caption}}.parquet",
    log:
        f"{IMG_LOGS}/embed_texts/{{model}}-{{split}}-{{caption}}.log",
    benchmark:
        f"{IMG_RES}/benchmarks/embed_texts/{{model}}-{{split}}-{{caption}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["images"]["embed_mem_mb"],
        runtime=30,
        gpu=min(1, config["resources"]["gpu"]),
    params:
        embed=leaves("images/embed", "batch_size", "device", "precision", "dtype"),
    script:
        "../../scripts/embed_texts.py"
