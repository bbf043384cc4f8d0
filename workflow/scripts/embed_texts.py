"""Entry script of rule embed_texts: one caption type of one split through one model's text tower."""

from skytext.core.smk import log_to
from skytext.images.embed import run_embed_texts

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_embed_texts(  # noqa: F821
            spec=snakemake.input.spec,  # noqa: F821
            captions=snakemake.input.captions,  # noqa: F821
            proposals=snakemake.input.proposals,  # noqa: F821
            split=snakemake.wildcards.split,  # noqa: F821
            embed=dict(snakemake.params.embed),  # noqa: F821
            out_embeddings=snakemake.output.embeddings,  # noqa: F821
            out_ids=snakemake.output.ids,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            gpus_given=int(snakemake.resources.gpu),  # noqa: F821
        )
