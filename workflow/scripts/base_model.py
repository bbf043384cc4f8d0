"""Entry script of rule base_model: the untrained model's spec (no weights)."""

from skytext.core.smk import log_to
from skytext.images.models import run_base_model

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_base_model(  # noqa: F821
            model=dict(snakemake.params.model),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            out_spec=snakemake.output.spec,  # noqa: F821
        )
