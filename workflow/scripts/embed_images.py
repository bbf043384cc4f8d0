"""Entry script of rule embed_images: join the image-embedding parts of one model and split."""

from skytext.core.smk import log_to
from skytext.images.join import run_embed_images

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_embed_images(  # noqa: F821
            embeddings=list(snakemake.input.embeddings),  # noqa: F821
            ids=list(snakemake.input.ids),  # noqa: F821
            spec=snakemake.input.spec,  # noqa: F821
            out_embeddings=snakemake.output.embeddings,  # noqa: F821
            out_ids=snakemake.output.ids,  # noqa: F821
            out_spec=snakemake.output.spec,  # noqa: F821
        )
