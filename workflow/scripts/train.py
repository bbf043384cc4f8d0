"""Entry script of rule train: one fine-tuned model per training mode and caption type."""

from skytext.core.smk import log_to
from skytext.images.models import run_train

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_train(  # noqa: F821
            name=snakemake.wildcards.model,  # noqa: F821
            observations=snakemake.input.observations,  # noqa: F821
            captions=snakemake.input.captions,  # noqa: F821
            model=dict(snakemake.params.model),  # noqa: F821
            train=dict(snakemake.params.train),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            ckpt_dir=snakemake.params.ckpt_dir,  # noqa: F821
            out_weights=snakemake.output.weights,  # noqa: F821
            out_spec=snakemake.output.spec,  # noqa: F821
            out_metrics=snakemake.output.metrics,  # noqa: F821
            out_curves=snakemake.output.curves,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            gpus_given=int(snakemake.resources.gpu),  # noqa: F821
        )
