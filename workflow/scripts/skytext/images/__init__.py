"""The image study (PAPERCLIP): Hubble images against proposal abstracts.

One library function per rule of ``workflow/rules/images/`` (its entry script calls it with plain values):
``acquire`` (demo and HST sources), ``dataset`` (gather, reject, split), ``captions``, ``llm`` (summaries),
``models`` (base spec, training), ``embed`` (image parts, texts) and ``join`` (image parts joined, numpy only),
``evaluate`` (retrieval per model x caption, the comparison) and ``explore`` (descriptions, galleries,
similarity histograms).
"""
