"""Entry script of rule spectra_retrieval: Recall@k % both ways for every variant and seed, with random and oracle rows."""

from skytext.core.smk import log_to
from skytext.spectra.retrieval import run_retrieval

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_retrieval(
            spectral_ids=snakemake.input.spectral_ids,  # noqa: F821
            text_ids=snakemake.input.text_ids,  # noqa: F821
            observations=snakemake.input.observations,  # noqa: F821
            variants=list(snakemake.params.variants),  # noqa: F821
            variant_paths=list(snakemake.input.variants),  # noqa: F821
            json_out=snakemake.output.json,  # noqa: F821
            curves_out=snakemake.output.curves,  # noqa: F821
            eval_cfg=dict(snakemake.params.eval),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
        )
