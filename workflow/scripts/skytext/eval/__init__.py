"""Evaluation: retrieval metrics with bootstrap CIs, chunked top-k search (and its CLI), the retrieval
comparison with baselines, exploration galleries, plots. May import :mod:`skytext.core` and :mod:`skytext.align`."""
