"""Source ``csc`` of the spectra study: the Chandra Source Catalog 2.1, SIMBAD bibcodes and ADS abstracts.

Modules: :mod:`.tap` (TAP queries, ADQL literals, the JSON cache: the base the others import),
:mod:`.catalog` (the master-source query), :mod:`.files` (each source's observations and their PHA/ARF/RMF),
:mod:`.papers` (SIMBAD and ADS), :mod:`.shard` (one acquisition shard). Imports run one way: tap <- catalog,
files, papers <- shard; this package file imports none of them.

Endpoints (every base URL is in the config section ``spectra.csc``):

* CSC TAP (``tap_url``, default ``https://cda.cfa.harvard.edu/csc21tap``): synchronous ADQL through
  ``pyvo.dal.TAPService.run_sync`` (POST ``<tap_url>/sync`` with ``REQUEST=doQuery&LANG=ADQL&QUERY=...``,
  answered with a VOTable). Table ``csc21.master_source`` with columns ``name, ra, dec, significance,
  hard_hm, hard_ms, flux_aper_b|s|m|h`` (erg/cm2/s), ``powlaw_gamma``, ``powlaw_nh`` (1e20 cm^-2),
  ``bb_kt``, ``brems_kt``, ``apec_kt``, ``var_inter_index_b``, ``var_intra_index_b``. The CSC TAP is reported to reject
  ADQL geometry (``CIRCLE``/``CONTAINS``), so a cone is sent as an RA/Dec box and cut to the circle here.
  ``src_cnts_aper_b`` and ``var_index_b`` are per-observation columns in the CSC 2.1: a source gets the sum
  of the source counts and the largest variability index of the observations its spectrum is made of.
* Each source's observations and their PHA (type I, OGIP), ARF and RMF: :mod:`.files`
  (TAP joins of the association tables, then ``csccli/browse`` and ``csccli/retrieveFile``).
* SIMBAD TAP (``simbad_tap_url``, the service ``astroquery.simbad`` queries): bibcodes of the objects
  within ``match_radius_arcsec`` of each source (``basic`` JOIN ``has_ref`` JOIN ``ref``), and the nearest
  one's ``otype``, mapped to a class by the ``class_map`` file.
* ADS API (``ads_url``, default ``https://api.adsabs.harvard.edu/v1``): ``GET /search/query?q=bibcode:(...)
  &fl=bibcode,title,abstract&rows=n`` with ``Authorization: Bearer <token>``; the answer is JSON
  ``{"response": {"docs": [{"bibcode", "title": [..], "abstract"}]}}``. The token is read from the
  environment variable named by ``ads_token_env`` and never logged or written.

Every request goes through :func:`skytext.sources.download.with_retries` (5xx/429 with ``Retry-After``,
timeouts, truncated bodies); every file is verified (whole FITS blocks, astropy opens it) and written
atomically; a rerun skips files already stored and valid and the SIMBAD/ADS answers cached per source /
bibcode. Archive names become paths only through :mod:`skytext.core.safepath`. Every requested source ends
in the observations or in the rejects with a reason.

Values are stored in the demo's conventions (:mod:`skytext.sources.xray_demo`): fluxes, counts and N_H as
log10 (N_H in cm^-2); spectra rebinned onto the demo channel grid (``n_channels`` evenly over the
response's ``e_min_kev..e_max_kev``) with the RMF's EBOUNDS and written with the demo's PHA writer.
"""
