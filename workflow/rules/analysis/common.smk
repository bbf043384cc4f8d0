# The analysis study: what any embeddings know (AstroCLIP downstream tasks, AION/astroPT embedding analysis).
# The config was checked (and its item defaults filled) by skytext.core.config.check in ../common.smk, whose
# cross-key rules for this section are skytext.analysis.sets.check_config. The effective list of sets comes
# from it: skytext sets of studies that are not in config["studies"] are skipped (listed in the summary).
# Results under results/analysis/<source>/<set>/. Each rule's params hold only the config leaves its code reads.

from skytext.analysis.sets import input_files, plan, resolve_path  # noqa: E402

ANA = config["analysis"]
ANA_RES, ANA_LOGS = study_dirs("analysis")
ANA_PLAN = plan(config)
ANA_SETS = {s["name"]: s for s in ANA_PLAN.sets}
ANA_NAMES = list(ANA_SETS)


wildcard_constraints:
    aset="|".join(ANA_NAMES) or "no-analysis-set",


def analysis_set_inputs(wildcards):
    """The files one set is read from (embeddings first) and its catalogue file."""
    entry = ANA_SETS[wildcards.aset]
    cat = ANA_PLAN.catalogues[entry["catalogue"]]
    files = input_files(entry, config)
    return {
        "embeddings": files[0],
        "others": files[1:],
        "catalogue": resolve_path(cat, config),
    }


def analysis_entry(wildcards):
    """The set's config item without the keys that only name its files (inputs) or its catalogue (own param)."""
    return {
        k: v
        for k, v in ANA_SETS[wildcards.aset].items()
        if k not in ("path", "study", "catalogue")
    }


def analysis_catalogue(wildcards):
    """The set's catalogue item without the keys that only name its file (an input)."""
    cat = ANA_PLAN.catalogues[ANA_SETS[wildcards.aset]["catalogue"]]
    return {k: v for k, v in cat.items() if k not in ("path", "study", "format")}


def analysis_prepared(name):
    """The counts file of a prepared set (every per-set rule and the comparisons depend on it)."""
    return f"{ANA_RES}/{name}/counts.json"


def analysis_targets():
    """The study's final outputs (none when no set is enabled)."""
    if not ANA_NAMES:
        return []
    return [
        f"{ANA_RES}/summary.json",
        f"{ANA_RES}/pairs.csv",
        f"{ANA_RES}/correlations.csv",
        f"{ANA_RES}/search.csv",
    ]


STUDY_TARGETS["analysis"] = analysis_targets
