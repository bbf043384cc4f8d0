"""Logic only the spectra study needs, one module per stage, each holding its rule's function (``run_*``):
acquisition jobs of either source (:mod:`.acquire`), the dataset (:mod:`.dataset`), the transformer
autoencoder (:mod:`.ae`), text summaries, embeddings and per-source pooling (:mod:`.texts`), projection heads
and the shuffled control (:mod:`.align`), retrieval (:mod:`.retrieval`), regression (:mod:`.regression`) with
its mixture of experts (:mod:`.moe`), outliers (:mod:`.outliers`) and figures (:mod:`.plots`). PHA I/O and the
demo response live in :mod:`skytext.sources.ogip`. May import any lower layer of skytext."""
