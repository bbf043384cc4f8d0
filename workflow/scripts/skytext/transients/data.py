"""The transients dataset: acquisition shards gathered, every triplet checked, split by a seeded hash.

``dataset/triplets.parquet`` keeps the shard contract's columns (:mod:`skytext.sources.triplets_demo`) plus
``split``; cutouts stay in the shards' ``.npy`` files and are read by (``path``, ``row``) with
:func:`load_cubes`. Every triplet that enters comes out in the table or in ``dataset/rejects.parquet`` with
the reason (``non_finite``, ``all_zero``, ``wrong_shape``, ``bad_label``, ``duplicate_id``, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from skytext.core.contracts import rejects_frame
from skytext.core.split import split_by_group
from skytext.sources.triplets_demo import META_COLUMNS, triplet_problem


def _reject(tid: str, reason: str, detail: str) -> dict:
    return {"record_type": "triplet", "record_id": tid, "stage": "transients_dataset", "reason": reason,
            "detail": detail}


def gather(meta_paths: list[str], reject_paths: list[str], split_cfg: dict, seed: int,
           size: int | None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(triplets with ``split``, all rejects, a summary) from the acquisition shards (``split_cfg``: the
    ``transients.split`` section; ``size``: the cutout side every triplet must have, ``None`` = any)."""
    rejects = [pd.read_parquet(p) for p in reject_paths]
    rows = []
    for p in meta_paths:
        meta = pd.read_parquet(p)
        missing = [c for c in META_COLUMNS if c not in meta.columns]
        if missing:
            raise ValueError(f"{p}: missing column(s) {', '.join(missing)}")
        cubes = np.load(meta["path"].iloc[0], mmap_mode="r") if len(meta) else None
        if cubes is not None and len(cubes) != len(meta):
            raise ValueError(f"{p}: {len(meta)} rows but {meta['path'].iloc[0]} holds {len(cubes)} triplets")
        for r in meta.to_dict("records"):
            why = triplet_problem(cubes[int(r["row"])], r["label"], size)
            if why:
                rejects.append(rejects_frame([_reject(r["obs_id"], *why)]))
            else:
                rows.append(r)
    df = pd.DataFrame(rows, columns=list(META_COLUMNS)).astype(META_COLUMNS)
    dup = df["obs_id"].duplicated(keep="first")
    if dup.any():
        rejects.append(rejects_frame([_reject(t, "duplicate_id", "triplet id seen earlier; kept the first")
                                      for t in df.loc[dup, "obs_id"]]))
    df = df[~dup].reset_index(drop=True)
    split = split_by_group(df["obs_id"], split_cfg["val_fraction"], split_cfg["test_fraction"], seed)
    df["split"] = pd.Series([split[t] for t in df["obs_id"]], dtype="string")
    df = df.sort_values("obs_id").reset_index(drop=True)
    rej = pd.concat(rejects, ignore_index=True) if rejects else rejects_frame([])
    summary = {"triplets": int(len(df)), "rejected": int(len(rej)),
               "reject_reasons": rej["reason"].value_counts().to_dict() if len(rej) else {},
               "by_split": {s: df.loc[df["split"] == s, "label"].value_counts().to_dict() for s in ("train", "val", "test")}}
    return df, rej, summary


def load_cubes(rows: pd.DataFrame) -> np.ndarray:
    """``[n, 3, S, S]`` float32 cutouts of ``rows`` (in their order)."""
    if len(rows) == 0:
        return np.zeros((0, 3, 1, 1), np.float32)
    out = [None] * len(rows)
    for path, idx in rows.reset_index(drop=True).groupby("path").groups.items():
        arr = np.load(path, mmap_mode="r")
        for i in idx:
            out[i] = np.asarray(arr[int(rows["row"].iloc[i])], dtype=np.float32)
    return np.stack(out)


def write_json(obj: dict, path: str | Path) -> None:
    """Write ``obj`` as indented, sorted JSON (numpy numbers as floats), creating the folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n", encoding="utf-8")
