"""Entry script of rule embed_image_part: one contiguous slice of a split's images through one model."""

from skytext.core.smk import log_to
from skytext.images.embed import run_embed_image_part

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_embed_image_part(  # noqa: F821
            spec=snakemake.input.spec,  # noqa: F821
            observations=snakemake.input.observations,  # noqa: F821
            split=snakemake.wildcards.split,  # noqa: F821
            part=int(snakemake.wildcards.part),  # noqa: F821
            parts=snakemake.params.parts,  # noqa: F821
            embed=dict(snakemake.params.embed),  # noqa: F821
            out_embeddings=snakemake.output.embeddings,  # noqa: F821
            out_ids=snakemake.output.ids,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            gpus_given=int(snakemake.resources.gpu),  # noqa: F821
        )
