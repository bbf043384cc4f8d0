"""Report figures: confusion matrices of every method, and a gallery of triplets with the answer, its
explanation and the judge's verdict, errors first."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from skytext.transients.render import triplet_image  # noqa: E402


def confusion_figure(results: dict[str, dict], path: str) -> None:
    """One 2x2 matrix per method; rows = true class, columns = predicted (Real first)."""
    names = list(results)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(2.6 * max(1, len(names)), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        cm = results[name]["confusion"]
        m = np.array([[cm["tp"], cm["fn"]], [cm["fp"], cm["tn"]]])
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", color="black")
        ax.set_xticks([0, 1], ["Real", "Bogus"])
        ax.set_yticks([0, 1], ["Real", "Bogus"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        acc = results[name]["accuracy"]
        ax.set_title(f"{name}\nacc {acc:.3f}" if acc is not None else name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gallery_rows(answers: pd.DataFrame, truth: pd.DataFrame, verdicts: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` answered triplets, errors first (then by ascending coherence, then id)."""
    m = answers.merge(truth[["obs_id", "label", "subtype", "path", "row"]], on="obs_id")
    m = m.merge(verdicts[["obs_id", "coherence", "interest_valid", "critique"]], on="obs_id", how="left")
    m["error"] = m["class"] != m["label"]
    return m.sort_values(["error", "coherence", "obs_id"], ascending=[False, True, True]).head(n).reset_index(drop=True)


def gallery(rows: pd.DataFrame, cubes: np.ndarray, path: str, stretch: str, scale: int, marker: bool) -> None:
    """Each triplet (New | Reference | Difference, as the model saw it: ``stretch``, ``scale``, ``marker``,
    shown in a 604 x 200 tile) beside its answer, explanation and verdict."""
    zoom, text_w, line_h = 2, 560, 12
    tile_h = 100 * zoom + 8
    canvas = Image.new("RGB", (302 * zoom + text_w, max(1, len(rows)) * tile_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (r, cube) in enumerate(zip(rows.to_dict("records"), cubes)):
        im = triplet_image(cube, stretch, scale, marker).resize((302 * zoom, 100 * zoom), Image.NEAREST)
        y0 = i * tile_h
        canvas.paste(im, (0, y0))
        head = (f"{r['obs_id']}  true {r['label']}{' (' + r['subtype'] + ')' if r['subtype'] else ''}  ->  "
                f"{r['class']} / {r['interest_score']}  {'ERROR' if r['error'] else 'ok'}")
        coh = "" if pd.isna(r["coherence"]) else f"judge: coherence {int(r['coherence'])}, interest valid {r['interest_valid']}: "
        lines = [head] + textwrap.wrap(str(r["explanation"]), 95)[:7] + textwrap.wrap(coh + str(r["critique"] or ""), 95)[:4]
        for k, line in enumerate(lines[: tile_h // line_h]):
            draw.text((302 * zoom + 8, y0 + 2 + k * line_h), line, fill=(170, 0, 0) if (k == 0 and r["error"]) else (0, 0, 0))
    canvas.save(path)
