"""Entry script of rule transients_evaluate: scores of every method, summary, comparison table and figures."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_evaluate

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_evaluate(  # noqa: F821
            triplets=snakemake.input.triplets,  # noqa: F821
            prompt_manifest=snakemake.input.prompt[0],  # noqa: F821
            answers=list(snakemake.input.answers),  # noqa: F821
            classify_rejects=list(snakemake.input.classify_rejects),  # noqa: F821
            classify_runs=list(snakemake.input.classify_runs),  # noqa: F821
            verdicts=list(snakemake.input.verdicts),  # noqa: F821
            refined=list(snakemake.input.refined),  # noqa: F821
            judge_rejects=list(snakemake.input.judge_rejects),  # noqa: F821
            judge_runs=list(snakemake.input.judge_runs),  # noqa: F821
            repeat=snakemake.input.repeat,  # noqa: F821
            repeat_rejects=snakemake.input.repeat_rejects,  # noqa: F821
            repeat_run=snakemake.input.repeat_run,  # noqa: F821
            features=snakemake.input.features,  # noqa: F821
            cnn=snakemake.input.cnn,  # noqa: F821
            knn=snakemake.input.knn,  # noqa: F821
            results=list(snakemake.output.results),  # noqa: F821
            out_summary=snakemake.output.summary,  # noqa: F821
            out_table=snakemake.output.table,  # noqa: F821
            out_html=snakemake.output.html,  # noqa: F821
            out_confusion=snakemake.output.confusion,  # noqa: F821
            out_gallery=snakemake.output.gallery,  # noqa: F821
            source=snakemake.params.source,  # noqa: F821
            eval_cfg=dict(snakemake.params.eval_cfg),  # noqa: F821
            backends=dict(snakemake.params.backends),  # noqa: F821
            refine_below=snakemake.params.refine_below,  # noqa: F821
            repeat_temperature=snakemake.params.repeat_temperature,  # noqa: F821
            n_examples=snakemake.params.n_examples,  # noqa: F821
            render=dict(snakemake.params.render),  # noqa: F821
            cost=dict(snakemake.params.cost),  # noqa: F821
            llm_model=snakemake.params.llm_model,  # noqa: F821
            prices=dict(snakemake.params.prices),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
