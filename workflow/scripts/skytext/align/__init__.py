"""Contrastive alignment: models (open_clip towers and heads), the InfoNCE loss, data loading, training
(single process or DDP under torchrun) and embedding. May import :mod:`skytext.core`."""
