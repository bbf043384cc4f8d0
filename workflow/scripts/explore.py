"""Entry script of rule explore: descriptions, query galleries and similarity histograms of one model."""

from skytext.core.smk import log_to
from skytext.images.explore import run_explore

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_explore(  # noqa: F821
            spec=snakemake.input.spec,  # noqa: F821
            images=snakemake.input.images,  # noqa: F821
            image_ids=snakemake.input.image_ids,  # noqa: F821
            texts=snakemake.input.texts,  # noqa: F821
            text_ids=snakemake.input.text_ids,  # noqa: F821
            descriptions=snakemake.input.descriptions,  # noqa: F821
            queries=snakemake.input.queries,  # noqa: F821
            model=snakemake.wildcards.model,  # noqa: F821
            embed=dict(snakemake.params.embed),  # noqa: F821
            describe_k=snakemake.params.describe_k,  # noqa: F821
            gallery_k=snakemake.params.gallery_k,  # noqa: F821
            chunk_size=snakemake.params.chunk_size,  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            out_descriptions=snakemake.output.descriptions,  # noqa: F821
            out_summary=snakemake.output.summary,  # noqa: F821
            out_gallery=snakemake.output.gallery,  # noqa: F821
            out_histogram=snakemake.output.histogram,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
            gpus_given=int(snakemake.resources.gpu),  # noqa: F821
        )
