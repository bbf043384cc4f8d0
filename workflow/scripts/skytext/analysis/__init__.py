"""The analysis study: what any embeddings know (AstroCLIP's downstream tasks, the AION/astroPT embedding analysis).

Modules: ``sets`` (the effective list of embedding sets and catalogues of a checked config, and
``check_config``, the section's cross-key rules), ``loaders`` (skytext, aion, astroclip, astropt and table
formats, checked; safe tensor/array loading with one-line errors), ``expr`` (a safe arithmetic
evaluator for catalogue transforms), ``catalogue`` (load, transform and join properties on id, counting
what is missing), ``probes`` (kNN / ridge / MLP regression and classification with bootstrap CIs),
``umaps`` (one seeded UMAP per set), ``correlations``, ``similarity`` (linear CKA, mutual kNN, per-object
cosine), ``search`` (top-k neighbours of query objects), ``plots``, ``synthetic`` (known-answer data),
``steps`` (one function per rule, called by ``workflow/scripts/analysis_*.py``) and ``summary`` (the summary
rule's function). May import :mod:`skytext.core` and
:mod:`skytext.eval`.
"""
