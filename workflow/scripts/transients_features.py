"""Entry script of rule transients_features: the image-statistics classifier, its answers, the judge's train table."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_features

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_features(  # noqa: F821
            triplets=snakemake.input.triplets,  # noqa: F821
            model=snakemake.output.model,  # noqa: F821
            predictions=snakemake.output.predictions,  # noqa: F821
            train_table=snakemake.output.train,  # noqa: F821
            eval_split=snakemake.params.eval_split,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
