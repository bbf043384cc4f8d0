"""Figures for the report: training curves and retrieval curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def training_curves(metrics: pd.DataFrame, path: str, title: str = "") -> None:
    """A PNG at ``path``: train/val loss and val top-10 % accuracy against the step."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(metrics["step"], metrics["train_loss"], lw=0.8, alpha=0.6, label="train loss")
    if "val_loss" in metrics:
        v = metrics.dropna(subset=["val_loss"])
        axes[0].plot(v["step"], v["val_loss"], "o-", label="val loss")
        axes[1].plot(v["step"], v["val_top10pct"], "o-", color="C2", label="val image->text top-10 %")
    axes[0].set_xlabel("step"), axes[0].set_ylabel("InfoNCE loss"), axes[0].legend()
    axes[1].set_xlabel("step"), axes[1].set_ylabel("accuracy"), axes[1].set_ylim(0, 1), axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def retrieval_curves(results: dict[str, dict], path: str) -> None:
    """Top-k % accuracy against k for every model, both directions (as PAPERCLIP's figures)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, direction in zip(axes, ("image_to_text", "text_to_image")):
        for i, (name, r) in enumerate(sorted(results.items())):
            curve = r[direction]["topk_percent"]
            style = "--" if name in ("random", "oracle") else "-"
            ax.plot(curve["k_percent"], curve["accuracy"], style, label=f"{name} ({r[direction]['top10pct']:.2f})", color=f"C{i % 10}")
        ax.axvline(10, color="grey", lw=0.5)
        ax.set_title(direction.replace("_", " "))
        ax.set_xlabel("k (% of candidates)")
        ax.set_xlim(0, 100), ax.set_ylim(0, 1.01)
        ax.legend(fontsize=7, title="model/caption (top-10 %)", title_fontsize=7)
    axes[0].set_ylabel("top-k % accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
