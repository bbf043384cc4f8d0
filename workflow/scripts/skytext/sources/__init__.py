"""Sources write the shared contracts (observations with a ``modality``, texts keyed by ``text_id``, rejects
with reasons), one module or sub-package per source and study:

* images: the demo sky (``sky_demo``, ``sky_render``) and HST (``mast`` discovery and previews, ``abstracts``
  from STScI), with ``download`` (resumable, verified HTTP fetches) shared by the archive sources;
* spectra: the offline demo X-ray sky and its papers (``xray_demo``, ``xray_papers``); the Chandra Source
  Catalog 2.1 (the ``csc/`` package: ``tap`` queries and cache, the master ``catalog``, the per-observation
  ``files`` service, SIMBAD and ADS ``papers``, one ``shard`` job); OGIP PHA/RMF reading, the spectrum gate and
  rebinning (``ogip``);
* transients: demo triplets (``triplets_demo``) and the MeerLICHT files on Zenodo (``meerlicht``).

May import :mod:`skytext.core` only.
"""
