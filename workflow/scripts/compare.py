"""Entry script of rule compare: every model x caption with the random and oracle baselines in one table (CSV,
JSON, an HTML table shown inline in the report, top-k % curves), plus the search evaluation per class."""

from skytext.core.smk import log_to
from skytext.images.evaluate import run_compare

if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        run_compare(  # noqa: F821
            results=list(snakemake.input.results),  # noqa: F821
            observations=snakemake.input.observations,  # noqa: F821
            proposals=snakemake.input.proposals,  # noqa: F821
            search=list(snakemake.input.search),  # noqa: F821
            split=snakemake.params.split,  # noqa: F821
            cfg=dict(snakemake.params.eval),  # noqa: F821
            seed=snakemake.params.seed,  # noqa: F821
            out_json=snakemake.output.json,  # noqa: F821
            out_table=snakemake.output.table,  # noqa: F821
            out_html=snakemake.output.html,  # noqa: F821
            out_curves=snakemake.output.curves,  # noqa: F821
        )
