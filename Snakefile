# skytext: link astronomical observations with natural language (PAPERCLIP-style CLIP fine-tuning).
# The rules live in workflow/rules/, one file per stage; helpers and config checking in common.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire_demo.smk"
include: "workflow/rules/acquire_hst.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/llm.smk"
include: "workflow/rules/captions.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        all_targets(),
