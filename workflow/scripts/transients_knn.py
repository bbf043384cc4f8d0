"""Entry script of rule transients_knn: the kNN baseline on the CNN's embeddings."""

from skytext.core.smk import log_to
from skytext.transients.jobs import run_knn

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_knn(  # noqa: F821
            embeddings=snakemake.input.embeddings,  # noqa: F821
            ids=snakemake.input.ids,  # noqa: F821
            predictions=snakemake.output.knn,  # noqa: F821
            k=snakemake.params.k,  # noqa: F821
            eval_split=snakemake.params.eval_split,  # noqa: F821
        )
