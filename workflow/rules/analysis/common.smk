# The analysis study: what any embeddings know (AstroCLIP downstream tasks, AION/astroPT embedding analysis).
# The effective list of sets comes from config: skytext sets of studies that are not in config["studies"]
# are skipped (listed in the summary). Results under results/analysis/<source>/<set>/.

from skytext.analysis.sets import input_files, plan, resolve_path  # noqa: E402

ANA = config["analysis"]
ANA_RES, ANA_LOGS = study_dirs("analysis")
try:
    ANA_PLAN = plan(config)
except (ConfigError, ValueError) as exc:
    sys.exit(f"config error: {exc}")
ANA_SETS = {s["name"]: s for s in ANA_PLAN.sets}
ANA_NAMES = list(ANA_SETS)


wildcard_constraints:
    aset="|".join(ANA_NAMES) or "no-analysis-set",


def analysis_set_inputs(wildcards):
    entry = ANA_SETS[wildcards.aset]
    cat = ANA_PLAN.catalogues[entry["catalogue"]]
    files = input_files(entry, config)
    return {
        "embeddings": files[0],
        "others": files[1:],
        "catalogue": resolve_path(cat, config),
    }


def analysis_prepared(name):
    return f"{ANA_RES}/{name}/counts.json"


def analysis_targets():
    if not ANA_NAMES:
        return []
    return [
        f"{ANA_RES}/summary.json",
        f"{ANA_RES}/pairs.csv",
        f"{ANA_RES}/correlations.csv",
        f"{ANA_RES}/search.csv",
    ]


STUDY_TARGETS["analysis"] = analysis_targets
