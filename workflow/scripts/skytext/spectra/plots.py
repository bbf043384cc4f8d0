"""Report figures of the spectra study."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def recall_curves(results: dict, path: str) -> None:
    """Recall@k % curves of every result, both directions (ensemble with its bootstrap band), to ``path``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, d in zip(axes, ("spectrum_to_text", "text_to_spectrum")):
        for i, (name, r) in enumerate(sorted(results.items())):
            c = r[d].get("recall_at_pct") or {}
            if c and all(v is not None for v in c["recall"]):
                x, y = c["k_percent"], c["recall"]
            else:
                x, y = r[d]["topk_percent"]["k_percent"], r[d]["topk_percent"]["accuracy"]
            style = "--" if name in ("random", "oracle", "shuffled") else "-"
            ax.plot(x, y, style, marker=".", color=f"C{i % 10}", label=name)
            if c.get("recall_ci") and name == "ensemble":
                lo, hi = zip(*c["recall_ci"])
                ax.fill_between(x, lo, hi, color=f"C{i % 10}", alpha=0.2)
        ax.set_xscale("log"), ax.set_xlim(0.4, 100), ax.set_ylim(0, 1.01)
        ax.set_title(d.replace("_", " ")), ax.set_xlabel("k (% of test candidates)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("Recall@k %")
    fig.tight_layout(), fig.savefig(path, dpi=110), plt.close(fig)


def r2_bars(table: pd.DataFrame, path: str) -> None:
    """Test R^2 per variable and feature set (sources with papers) as grouped bars, to ``path``."""
    t = table[table["subset"] == "with_papers"]
    piv = t.pivot(index="variable", columns="features", values="r2")
    order = [v for v in t["variable"].unique()]
    piv = piv.loc[order]
    fig, ax = plt.subplots(figsize=(12, 4.5))
    w = 0.8 / len(piv.columns)
    for i, f in enumerate(piv.columns):
        ax.bar(np.arange(len(piv)) + i * w, piv[f].clip(lower=-0.2), w, label=f)
    ax.set_xticks(np.arange(len(piv)) + 0.4 - w / 2, piv.index, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("test R^2"), ax.axhline(0, color="k", lw=0.5), ax.legend(fontsize=8, ncol=5)
    fig.tight_layout(), fig.savefig(path, dpi=110), plt.close(fig)


def umap_panels(xy: np.ndarray, src: pd.DataFrame, path: str, columns: list[str]) -> None:
    """A 2-D map coloured by class (planted outliers ringed) and by each of ``columns``, to ``path``."""
    fig, axes = plt.subplots(1, 1 + len(columns), figsize=(4.2 * (1 + len(columns)), 4))
    for i, c in enumerate(sorted(src["class"].unique())):
        m = (src["class"] == c).to_numpy()
        axes[0].scatter(xy[m, 0], xy[m, 1], s=4, color=f"C{i % 10}", label=c)
    if "is_outlier" in src:
        m = src["is_outlier"].to_numpy(bool)
        axes[0].scatter(xy[m, 0], xy[m, 1], s=40, facecolors="none", edgecolors="k", label="planted outlier")
    axes[0].legend(fontsize=6, markerscale=2), axes[0].set_title("class")
    for ax, col in zip(axes[1:], columns):
        v = src[col].to_numpy(float)
        ok = np.isfinite(v)
        ax.scatter(xy[~ok, 0], xy[~ok, 1], s=3, color="0.85")
        sc = ax.scatter(xy[ok, 0], xy[ok, 1], s=4, c=v[ok], cmap="viridis")
        fig.colorbar(sc, ax=ax), ax.set_title(col)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)


UMAP_COLUMNS = ["powlaw_nh", "hard_hm", "src_cnts_aper_b"]


def run_umap(shared: str, shared_ids: str, sources: str, plot_out: str, n_neighbors: int, min_dist: float,
             seed: int) -> None:
    """Rule spectra_umap: a 2-D UMAP of the shared space coloured by class and a few variables."""
    import umap  # slow to import (numba): only this rule needs it

    x = np.load(shared)
    ids = pd.read_parquet(shared_ids)
    src = pd.read_parquet(sources).set_index("source_id").loc[ids["source_id"]].reset_index()
    xy = umap.UMAP(n_neighbors=min(n_neighbors, len(x) - 1), min_dist=min_dist, metric="cosine", random_state=seed,
                   n_jobs=1).fit_transform(x)
    umap_panels(xy, src, plot_out, [c for c in UMAP_COLUMNS if c in src])
