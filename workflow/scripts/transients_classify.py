"""Entry script of rule transients_classify: one shard of evaluation triplets classified."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_classify

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_classify(  # noqa: F821
            triplets=snakemake.input.triplets,  # noqa: F821
            examples=snakemake.input.examples,  # noqa: F821
            model=snakemake.input.model,  # noqa: F821
            prompt_manifest=snakemake.input.prompt[0],  # noqa: F821
            answers=snakemake.output.answers,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            run=snakemake.output.run,  # noqa: F821
            backend=snakemake.params.backend,  # noqa: F821
            max_triplets=snakemake.params.max_triplets,  # noqa: F821
            eval_split=snakemake.params.eval_split,  # noqa: F821
            render=dict(snakemake.params.render),  # noqa: F821
            llm=dict(snakemake.params.llm),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            shard=int(snakemake.params.shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
        )
