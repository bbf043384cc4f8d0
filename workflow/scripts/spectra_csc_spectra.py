"""Entry script of rule spectra_csc_spectra: one shard's observations, PHA/ARF/RMF, rebinned spectra, SIMBAD bibcodes and class, ADS abstracts."""

from skytext.core.smk import log_to
from skytext.spectra.acquire import run_csc_spectra

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_csc_spectra(
            catalog=snakemake.input.catalog,  # noqa: F821
            response=snakemake.input.response,  # noqa: F821
            class_map=snakemake.input.class_map,  # noqa: F821
            observations=snakemake.output.observations,  # noqa: F821
            rejects=snakemake.output.rejects,  # noqa: F821
            papers=snakemake.output.papers,  # noqa: F821
            links=snakemake.output.links,  # noqa: F821
            csc=dict(snakemake.params.csc),  # noqa: F821
            n_channels=snakemake.params.n_channels,  # noqa: F821
            shard=int(snakemake.wildcards.spec_shard),  # noqa: F821
            shards=snakemake.params.shards,  # noqa: F821
            raw_dir=snakemake.params.raw_dir,  # noqa: F821
            spec_dir=snakemake.params.spec_dir,  # noqa: F821
        )
