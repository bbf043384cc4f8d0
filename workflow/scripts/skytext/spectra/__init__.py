"""Logic only the spectra study needs: OGIP PHA I/O and the demo response (:mod:`.pha`), the dataset
(:mod:`.dataset`), the transformer autoencoder (:mod:`.ae`), projection heads (:mod:`.align`), text
embeddings pooled per source (:mod:`.texts`), regression with a mixture of experts (:mod:`.moe`), outliers
(:mod:`.outliers`) and retrieval (:mod:`.retrieval`). May import any lower layer of skytext."""
