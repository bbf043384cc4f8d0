# skytext: link astronomical observations with natural language, one study per config section.
# Shared helpers and the config check live in workflow/rules/common.smk; each study's rules in
# workflow/rules/<study>/ (one file per stage), with a target rule named after the study.
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


rule all:
    default_target: True
    input:
        [path for study in STUDIES for path in STUDY_TARGETS[study]()],
