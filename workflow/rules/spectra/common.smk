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


def spectra_targets():
    return [
        f"{SPEC_RES}/eval/retrieval.json",
        f"{SPEC_RES}/eval/recall_curves.png",
        f"{SPEC_RES}/eval/regression.csv",
        f"{SPEC_RES}/eval/regression_r2.png",
        f"{SPEC_RES}/eval/outliers.csv",
        f"{SPEC_RES}/eval/umap.png",
    ]


STUDY_TARGETS["spectra"] = spectra_targets
