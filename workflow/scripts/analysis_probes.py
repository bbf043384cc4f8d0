"""Entry script of rule analysis_probes: kNN, linear and MLP probes of one set, with bootstrap CIs."""

from skytext.analysis.steps import probe_set
from skytext.core.smk import log_to

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        probe_set(  # noqa: F821
            embeddings=snakemake.input.embeddings,  # noqa: F821
            objects=snakemake.input.objects,  # noqa: F821
            counts=snakemake.input.counts,  # noqa: F821
            probes=dict(snakemake.params.probes),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            out_probes=snakemake.output.probes,  # noqa: F821
            out_predictions=snakemake.output.predictions,  # noqa: F821
            out_notes=snakemake.output.notes,  # noqa: F821
        )
