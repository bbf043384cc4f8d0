"""Entry script of rule evaluate: retrieval both ways for one model x caption type."""

from skytext.core.smk import log_to
from skytext.images.evaluate import run_evaluate

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_evaluate(  # noqa: F821
            images=snakemake.input.images,  # noqa: F821
            image_ids=snakemake.input.image_ids,  # noqa: F821
            texts=snakemake.input.texts,  # noqa: F821
            text_ids=snakemake.input.text_ids,  # noqa: F821
            model=snakemake.wildcards.model,  # noqa: F821
            caption=snakemake.wildcards.caption,  # noqa: F821
            split=snakemake.params.split,  # noqa: F821
            cfg=dict(snakemake.params.eval),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            out_result=snakemake.output.result,  # noqa: F821
        )
