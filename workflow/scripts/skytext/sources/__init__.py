"""Sources write the shared contracts (observations with a ``modality``, texts, rejects): the image study's
demo sky and the HST path (MAST discovery, preview downloads, STScI abstracts). May import :mod:`skytext.core`."""
