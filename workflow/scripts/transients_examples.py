"""Entry script of rule transients_examples: the few-shot examples, from the train split only."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_examples

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_examples(  # noqa: F821
            triplets=snakemake.input.triplets,  # noqa: F821
            examples=snakemake.output.examples,  # noqa: F821
            n_examples=snakemake.params.n_examples,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
