"""Entry script of rule search_eval: held-out class and off-topic queries of one model, the "no good match"
threshold chosen on val, precision@k and both acceptance rates on test (skytext.search.run_search_eval)."""

from skytext.core.smk import log_to
from skytext.search import run_search_eval

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_search_eval(  # noqa: F821
            spec=snakemake.input.spec,  # noqa: F821
            val_images=snakemake.input.val_images,  # noqa: F821
            val_image_ids=snakemake.input.val_image_ids,  # noqa: F821
            test_images=snakemake.input.test_images,  # noqa: F821
            test_image_ids=snakemake.input.test_image_ids,  # noqa: F821
            observations=snakemake.input.observations,  # noqa: F821
            captions=snakemake.input.captions,  # noqa: F821
            proposals=snakemake.input.proposals,  # noqa: F821
            class_queries=snakemake.input.class_queries,  # noqa: F821
            offtopic_queries=snakemake.input.offtopic_queries,  # noqa: F821
            templates=snakemake.input.templates,  # noqa: F821
            stop_words=snakemake.input.stop_words,  # noqa: F821
            out_json=snakemake.output.json,  # noqa: F821
            out_table=snakemake.output.table,  # noqa: F821
            model=snakemake.wildcards.model,  # noqa: F821
            k=snakemake.params.k,  # noqa: F821
            n_anchors=snakemake.params.n_anchors,  # noqa: F821
            min_precision=snakemake.params.min_precision,  # noqa: F821
            device=snakemake.params.device,  # noqa: F821
            chunk_size=snakemake.params.chunk_size,  # noqa: F821
            threads=snakemake.threads,  # noqa: F821
        )
