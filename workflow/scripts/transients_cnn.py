"""Entry script of rule transients_cnn: the CNN baseline, the embeddings of every triplet and the weights."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_cnn

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_cnn(  # noqa: F821
            triplets=snakemake.input.triplets,  # noqa: F821
            predictions=snakemake.output.cnn,  # noqa: F821
            embeddings=snakemake.output.embeddings,  # noqa: F821
            ids=snakemake.output.ids,  # noqa: F821
            curve=snakemake.output.curve,  # noqa: F821
            weights=snakemake.output.weights,  # noqa: F821
            cnn=dict(snakemake.params.cnn),  # noqa: F821
            eval_split=snakemake.params.eval_split,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
        )
