# The spectra study (arXiv 2603.04516): X-ray spectra <-> paper texts. Results under results/spectra/<source>/.

SPEC = config["spectra"]
SPEC_RES, SPEC_LOGS = study_dirs("spectra")
SPEC_SHARDS = [str(i) for i in range(config["shards"])]
SUM_SHARDS = [str(i) for i in range(SPEC["summaries"]["shards"])]
SPEC_VARIANTS = list(SPEC["align"]["variants"])
if "ensemble" not in SPEC_VARIANTS:
    sys.exit(
        "config error: spectra.align.variants must include 'ensemble' (the model the evaluation uses)"
    )


# the config leaves each rule's code reads (its params: a change elsewhere does not rerun it)
DEMO_SKY_KEYS = (
    "n_sources",
    "min_counts",
    "max_counts",
    "background_counts",
    "outlier_fraction",
    "n_corrupt",
)
CSC_SHARD_KEYS = (
    "tap_url",
    "observations",
    "files",
    "simbad_tap_url",
    "match_radius_arcsec",
    "max_papers",
    "ads_url",
    "ads_token_env",
    "ads_batch",
    "download",
)
AE_KEYS = (
    "latent",
    "patch",
    "d_model",
    "layers",
    "heads",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "augment",
)
ALIGN_KEYS = (
    "dim",
    "hidden",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "dropout",
    "ensemble",
)


def text_encoder_leaves():
    """The text_encoder leaves spectra_embed_text reads: the openai backend's endpoint and cache keys only
    when it is the backend."""
    keys = [
        "backend",
        "model",
        "batch_size",
        "max_chars",
        "granularity",
        "pool_weighting",
    ]
    if SPEC["text_encoder"]["backend"] == "sentence-transformers":
        keys += ["device"]
    if SPEC["text_encoder"]["backend"] == "openai":
        keys += ["base_url", "api_key_env", "cache_dir"]
    return leaves("spectra/text_encoder", *keys)


def spectra_targets():
    """The outputs of the study's target rule `spectra`."""
    return [
        f"{SPEC_RES}/eval/retrieval.json",
        f"{SPEC_RES}/eval/recall_curves.png",
        f"{SPEC_RES}/eval/regression.csv",
        f"{SPEC_RES}/eval/regression_r2.png",
        f"{SPEC_RES}/eval/outliers.csv",
        f"{SPEC_RES}/eval/umap.png",
    ]


STUDY_TARGETS["spectra"] = spectra_targets
