"""Entry script of rule spectra_embed_text: embed every summary, pool per source (embed/text.npy, and text_whole.npy from whole texts)."""

from skytext.core.smk import log_to
from skytext.spectra.texts import run_embed_text

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_embed_text(
            texts=list(snakemake.input.texts),  # noqa: F821
            rejects=list(snakemake.input.rejects),  # noqa: F821
            sources=snakemake.input.sources,  # noqa: F821
            links=snakemake.input.links,  # noqa: F821
            papers_out=snakemake.output.papers,  # noqa: F821
            paper_ids_out=snakemake.output.paper_ids,  # noqa: F821
            text_out=snakemake.output.text,  # noqa: F821
            text_ids_out=snakemake.output.text_ids,  # noqa: F821
            text_whole_out=snakemake.output.text_whole,  # noqa: F821
            rejects_out=snakemake.output.rejects,  # noqa: F821
            text_encoder=dict(snakemake.params.text_encoder),  # noqa: F821
            retry=dict(snakemake.params.retry),  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
        )
