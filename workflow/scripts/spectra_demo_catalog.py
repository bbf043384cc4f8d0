"""Entry script for spectra_demo_catalog: the demo X-ray sky's catalogue and papers (one job)."""

from skytext.core.contracts import rejects_frame
from skytext.core.smk import log_to
from skytext.sources import xray_demo
from skytext.sources.ogip import load_response


def main(input, output, params) -> None:
    demo, seed = params["demo"], params["seed"]
    sky = xray_demo.simulate(demo, seed, load_response(input["response"], params["n_channels"]))
    papers, links = xray_demo.papers(sky.catalog, demo, seed)
    if demo["n_corrupt"]:
        papers, links = xray_demo.add_empty_paper(papers, links, sky.catalog, seed)
    sky.catalog.to_parquet(output["catalog"], index=False)
    papers.to_parquet(output["papers"], index=False)
    links.to_parquet(output["links"], index=False)
    rejects_frame([]).to_parquet(output["rejects"], index=False)
    print(f"{len(sky.catalog)} sources, {len(papers)} papers, {len(links)} links")


if "snakemake" in globals():
    with log_to(snakemake.log[0]):  # noqa: F821
        main(snakemake.input, snakemake.output, snakemake.params)  # noqa: F821
