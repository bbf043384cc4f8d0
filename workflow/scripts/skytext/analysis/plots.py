"""Figures of the analysis study: UMAP panels per property and per class column (all sets side by side),
correlation and probe bar charts comparing sets, pair heat maps, similarity-search strips."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _grid(n: int, size: float = 3.4):
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()


def umap_property(maps: dict[str, pd.DataFrame], prop: str, unit: str, path: str | Path) -> None:
    """One panel per set (``maps``: set -> umap table joined with its objects), coloured by ``prop``."""
    fig, axes = _grid(len(maps))
    for ax, (name, t) in zip(axes, maps.items()):
        v = t[prop].to_numpy(np.float64)
        ok = np.isfinite(v)
        ax.scatter(t["umap_1"][~ok], t["umap_2"][~ok], s=3, c="lightgrey", lw=0)
        if ok.any():
            lo, hi = np.quantile(v[ok], [0.02, 0.98])
            sc = ax.scatter(t["umap_1"][ok], t["umap_2"][ok], s=4, c=v[ok], cmap="viridis", vmin=lo,
                            vmax=hi if hi > lo else lo + 1, lw=0)
            fig.colorbar(sc, ax=ax, shrink=0.8, label=f"{prop} [{unit}]" if unit else prop)
        ax.set_title(f"{name} (n={ok.sum()})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"UMAP coloured by {prop}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def umap_classes(maps: dict[str, pd.DataFrame], col: str, path: str | Path) -> None:
    """One UMAP panel per set coloured by the class column ``col``, saved at ``path``."""
    fig, axes = _grid(len(maps))
    labels = sorted({str(v) for t in maps.values() for v in t[col].dropna().unique()})
    colours = {lab: plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")(i % 20) for i, lab in enumerate(labels)}
    for ax, (name, t) in zip(axes, maps.items()):
        miss = t[col].isna().to_numpy()
        ax.scatter(t["umap_1"][miss], t["umap_2"][miss], s=3, c="lightgrey", lw=0)
        for lab in labels:
            m = (t[col].astype("string") == lab).fillna(False).to_numpy(bool)
            ax.scatter(t["umap_1"][m], t["umap_2"][m], s=4, color=colours[lab], lw=0, label=lab)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=7, markerscale=3, loc="best")
    fig.suptitle(f"UMAP coloured by {col}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def grouped_bars(table: pd.DataFrame, value: str, path: str | Path, title: str, ylabel: str,
                 lo: str | None = None, hi: str | None = None, ymin: float | None = None) -> None:
    """Bars of ``value`` per property (groups) and set (bars), with CI whiskers when ``lo``/``hi`` are given."""
    props = list(dict.fromkeys(table["property"]))
    sets = list(dict.fromkeys(table["set"]))
    fig, ax = plt.subplots(figsize=(max(6.0, min(22.0, 2 + 0.5 * len(props) + 0.1 * len(props) * len(sets))), 4.5))
    width = 0.8 / max(1, len(sets))
    for j, s in enumerate(sets):
        t = table[table["set"] == s].set_index("property").reindex(props)
        x = np.arange(len(props)) + (j - (len(sets) - 1) / 2) * width
        err = None
        if lo and hi:
            err = np.vstack([(t[value] - t[lo]).clip(lower=0).fillna(0), (t[hi] - t[value]).clip(lower=0).fillna(0)])
        ax.bar(x, t[value].fillna(0), width, yerr=err, label=s, capsize=2)
    ax.set_xticks(np.arange(len(props)))
    ax.set_xticklabels(props, rotation=45, ha="right", fontsize=8)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel(ylabel)
    if ymin is not None and ax.get_ylim()[0] < ymin:
        ax.set_ylim(bottom=ymin)  # very negative R² of unencoded properties would squash the rest
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pair_heatmaps(pairs: pd.DataFrame, sets: list[str], path: str | Path) -> None:
    """Heatmaps of linear CKA and mutual kNN between every pair of sets, saved at ``path``."""
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.1 * len(sets), 2.5 + 0.5 * len(sets)), squeeze=False)
    for ax, metric in zip(axes[0], ("cka_linear", "mutual_knn")):
        m = np.eye(len(sets))
        for r in pairs.itertuples():
            i, j = sets.index(r.set_a), sets.index(r.set_b)
            m[i, j] = m[j, i] = getattr(r, metric)
        im = ax.imshow(m, vmin=0, vmax=1, cmap="magma")
        for i in range(len(sets)):
            for j in range(len(sets)):
                ax.text(j, i, "-" if np.isnan(m[i, j]) else f"{m[i, j]:.2f}", ha="center", va="center",
                        color="white" if not np.isnan(m[i, j]) and m[i, j] < 0.6 else "black", fontsize=7)
        ax.set_xticks(range(len(sets)))
        ax.set_xticklabels(sets, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(sets)))
        ax.set_yticklabels(sets, fontsize=7)
        ax.set_title({"cka_linear": "linear CKA", "mutual_knn": "mutual kNN overlap"}[metric], fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _thumb(path) -> np.ndarray | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("L").resize((64, 64)))
    except Exception:  # noqa: BLE001 - a missing thumbnail is drawn as text
        return None


def search_strip(results: pd.DataFrame, class_col: str | None, thumbnail: str | None, k: int, path) -> None:
    """Rows = queries, columns = the query and its ``k`` neighbours: thumbnails when the set has images."""
    queries = list(dict.fromkeys(results["query_id"])) if len(results) else []
    fig, axes = plt.subplots(max(1, len(queries)), k + 1, figsize=(1.3 * (k + 1), 1.4 * max(1, len(queries))),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, q in enumerate(queries):
        rows = results[results["query_id"] == q].sort_values("rank")
        qcls = rows[class_col].iat[0] if class_col else None
        for c, d in enumerate(rows.head(k + 1).to_dict("records")):  # (itertuples renames keywords: class)
            ax = axes[r, c]
            img = _thumb(d[thumbnail]) if thumbnail and isinstance(d.get(thumbnail), str) else None
            label = str(d[class_col]) if class_col else ""
            same = class_col and label == str(qcls)
            if img is not None:
                ax.imshow(img, cmap="gray")
            else:
                ax.text(0.5, 0.5, label[:14], ha="center", va="center", fontsize=7,
                        color="black", transform=ax.transAxes)
            colour = "tab:blue" if c == 0 else ("tab:green" if same else "tab:red")
            ax.set_title(("query " if c == 0 else f"{d['cosine']:.2f} ") + label[:10], fontsize=6, color=colour)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
