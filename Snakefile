# skytext: link astronomical observations with natural language, one study per config section.
# Shared helpers and the config check live in workflow/rules/common.smk; each study's rules in
# workflow/rules/<study>/ (one file per stage), with a target rule named after the study (`snakemake --cores
# all <study>` runs that study alone) in the study's last stage file (evaluate.smk; compare.smk for analysis).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
# images: Hubble images <-> proposal abstracts (PAPERCLIP)
include: "workflow/rules/images/common.smk"
include: "workflow/rules/images/acquire_demo.smk"
include: "workflow/rules/images/acquire_hst.smk"
include: "workflow/rules/images/dataset.smk"
include: "workflow/rules/images/llm.smk"
include: "workflow/rules/images/captions.smk"
include: "workflow/rules/images/train.smk"
include: "workflow/rules/images/embed.smk"
include: "workflow/rules/images/evaluate.smk"
# transients: real/bogus triplets by a vision LLM + judge + refinement vs a CNN (Stoppa et al.)
include: "workflow/rules/transients/common.smk"
include: "workflow/rules/transients/acquire.smk"
include: "workflow/rules/transients/llm.smk"
include: "workflow/rules/transients/baselines.smk"
include: "workflow/rules/transients/evaluate.smk"
# spectra: X-ray spectra <-> paper texts (autoencoder, contrastive heads, retrieval, MoE regression, outliers)
include: "workflow/rules/spectra/common.smk"
include: "workflow/rules/spectra/acquire_demo.smk"
include: "workflow/rules/spectra/acquire_csc.smk"
include: "workflow/rules/spectra/dataset.smk"
include: "workflow/rules/spectra/text.smk"
include: "workflow/rules/spectra/models.smk"
include: "workflow/rules/spectra/evaluate.smk"
# analysis: what any embeddings know (kNN/probes, UMAP, correlations, CKA, similarity search)
include: "workflow/rules/analysis/common.smk"
include: "workflow/rules/analysis/prepare.smk"
include: "workflow/rules/analysis/probes.smk"
include: "workflow/rules/analysis/umap.smk"
include: "workflow/rules/analysis/search.smk"
include: "workflow/rules/analysis/compare.smk"


rule all:
    default_target: True
    input:
        [path for study in STUDIES for path in STUDY_TARGETS[study]()],
