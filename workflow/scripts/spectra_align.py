"""Entry script of rule spectra_align: projection heads (the ensemble of seeds and the shuffled control) and the shared space."""

from skytext.core.smk import log_to
from skytext.spectra.align import run_align

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_align(
            latent=snakemake.input.latent,  # noqa: F821
            augmented=snakemake.input.augmented,  # noqa: F821
            spectral_ids=snakemake.input.spectral_ids,  # noqa: F821
            text=snakemake.input.text,  # noqa: F821
            text_ids=snakemake.input.text_ids,  # noqa: F821
            papers=snakemake.input.papers,  # noqa: F821
            paper_ids=snakemake.input.paper_ids,  # noqa: F821
            links=snakemake.input.links,  # noqa: F821
            variants=list(snakemake.params.variants),  # noqa: F821
            variant_paths=list(snakemake.output.variants),  # noqa: F821
            history_out=snakemake.output.history,  # noqa: F821
            shared_out=snakemake.output.shared,  # noqa: F821
            shared_ids_out=snakemake.output.shared_ids,  # noqa: F821
            align=dict(snakemake.params.align),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
        )
