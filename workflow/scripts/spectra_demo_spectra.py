"""Entry script of rule spectra_demo_spectra: one shard of the demo's PHA spectra."""

from skytext.core.smk import log_to
from skytext.spectra.acquire import run_demo_spectra

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_demo_spectra(
            response=snakemake.input.response,  # noqa: F821
            observations=snakemake.output.observations,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            demo=dict(snakemake.params.demo),  # noqa: F821
            n_channels=snakemake.params.n_channels,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            shard=int(snakemake.wildcards.spec_shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
            spec_dir=snakemake.params.spec_dir,  # noqa: F821
        )
