"""Entry script of rule spectra_umap: a 2-D UMAP of the shared space coloured by class and a few variables."""

from skytext.core.smk import log_to
from skytext.spectra.plots import run_umap

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_umap(
            shared=snakemake.input.shared,  # noqa: F821
            shared_ids=snakemake.input.shared_ids,  # noqa: F821
            sources=snakemake.input.sources,  # noqa: F821
            plot_out=snakemake.output.plot,  # noqa: F821
            n_neighbors=snakemake.params.n_neighbors,  # noqa: F821
            min_dist=snakemake.params.min_dist,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
