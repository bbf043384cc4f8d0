# Models: the spectral transformer autoencoder (self-supervised on the train split) and the projection heads
# (ensemble of seeds + the shuffled control) aligning its latent with the pooled paper texts.


rule spectra_autoencoder:
    input:
        counts=f"{SPEC_RES}/dataset/counts.npy",
        sources=f"{SPEC_RES}/dataset/sources.parquet",
    output:
        model=f"{SPEC_RES}/models/ae/model.pt",
        history=f"{SPEC_RES}/models/ae/history.csv",
        latent=f"{SPEC_RES}/models/ae/latent.npy",
        augmented=f"{SPEC_RES}/models/ae/latent_augmented.npy",
        spectral=f"{SPEC_RES}/embed/spectral.npy",
        spectral_ids=f"{SPEC_RES}/embed/spectral.parquet",
    log:
        f"{SPEC_LOGS}/spectra_autoencoder/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_autoencoder/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=config["resources"]["spectra"]["train_runtime"],
        gpu=config["resources"]["gpu"],
    params:
        autoencoder=leaves("spectra/autoencoder", *AE_KEYS),
        seed=config["seed"],
        checkpoint=f"{SPEC_RES}/models/ae/last.pt",
    script:
        "../../scripts/spectra_autoencoder.py"


rule spectra_align:
    input:
        latent=f"{SPEC_RES}/models/ae/latent.npy",
        augmented=f"{SPEC_RES}/models/ae/latent_augmented.npy",
        spectral_ids=f"{SPEC_RES}/embed/spectral.parquet",
        text=f"{SPEC_RES}/embed/text.npy",
        text_ids=f"{SPEC_RES}/embed/text.parquet",
        papers=f"{SPEC_RES}/embed/papers.npy",
        paper_ids=f"{SPEC_RES}/embed/papers.parquet",
        links=f"{SPEC_RES}/dataset/links.parquet",
    output:
        variants=[f"{SPEC_RES}/models/align/{v}.npz" for v in SPEC_VARIANTS],
        history=f"{SPEC_RES}/models/align/history.csv",
        shared=f"{SPEC_RES}/embed/shared.npy",
        shared_ids=f"{SPEC_RES}/embed/shared.parquet",
    log:
        f"{SPEC_LOGS}/spectra_align/all.log",
    benchmark:
        f"{SPEC_RES}/benchmarks/spectra_align/all.tsv"
    conda:
        "../../envs/spectra.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=config["resources"]["spectra"]["train_runtime"],
        gpu=config["resources"]["gpu"],
    params:
        align=leaves("spectra/align", *ALIGN_KEYS),
        variants=SPEC_VARIANTS,
        seed=config["seed"],
    script:
        "../../scripts/spectra_align.py"
