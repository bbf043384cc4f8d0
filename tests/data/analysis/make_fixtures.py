"""Writes the tiny fixture embeddings of the analysis micro config (committed; rerun to regenerate).

``catalogue.parquet``: 120 synthetic objects (skytext.analysis.synthetic: ``encoded_a/b`` shape the embedding,
``noise_c/d`` do not) plus an all-missing column. ``syn_table.npy`` + ``syn_table.parquet``: a 16-d embedding of
all 120 (table format). ``syn_aion.pt``: AION's format (a list of dicts of tensors/str), a rotated noisy copy of
the table set for objects 20..119 plus 10 objects the catalogue lacks.
"""

from pathlib import Path
import sys

import numpy as np
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2] / "workflow" / "scripts"))
from skytext.analysis import synthetic  # noqa: E402


def main() -> None:
    """Write the fixture files beside this script."""
    cat = synthetic.catalogue(120, seed=0)
    X = synthetic.embed(cat, dims=16, noise=0.05, seed=1)
    cat["empty"] = np.nan
    cat.to_parquet(HERE / "catalogue.parquet", index=False)
    np.save(HERE / "syn_table.npy", X)
    cat[["object_id"]].to_parquet(HERE / "syn_table.parquet", index=False)
    rot = X @ synthetic.random_rotation(16, seed=3)
    rng = np.random.default_rng(4)
    records = [{"object_id": cat["object_id"][i], "embedding_hsc": torch.tensor(rot[i] + 0.01 * rng.normal(size=16),
                                                                                dtype=torch.float32)}
               for i in range(20, 120)]
    records += [{"object_id": f"extra{i}", "embedding_hsc": torch.randn(16)} for i in range(10)]
    torch.save(records, HERE / "syn_aion.pt")


if __name__ == "__main__":
    main()
