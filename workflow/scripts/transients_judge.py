"""Entry script of rule transients_judge: one shard's answers judged, low-coherence ones refined."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_judge

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_judge(  # noqa: F821
            triplets=snakemake.input.triplets,  # noqa: F821
            examples=snakemake.input.examples,  # noqa: F821
            model=snakemake.input.model,  # noqa: F821
            judge_table=snakemake.input.judge_table,  # noqa: F821
            prompt_manifest=snakemake.input.prompt[0],  # noqa: F821
            answers=snakemake.input.answers,  # noqa: F821
            verdicts=snakemake.output.verdicts,  # noqa: F821
            refined=snakemake.output.refined,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            run=snakemake.output.run,  # noqa: F821
            judge_backend=snakemake.params.judge_backend,  # noqa: F821
            classify_backend=snakemake.params.classify_backend,  # noqa: F821
            refine_below=snakemake.params.refine_below,  # noqa: F821
            render=dict(snakemake.params.render),  # noqa: F821
            llm=dict(snakemake.params.llm),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
