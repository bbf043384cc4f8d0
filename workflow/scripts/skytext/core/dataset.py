"""Gather acquisition shards into the dataset: join observations to texts, reject what cannot be used,
and split by proposal (seeded; no proposal straddles train/val/test)."""

from __future__ import annotations

import hashlib
import math

import pandas as pd
from PIL import Image

from skytext.core.contracts import OBSERVATIONS, PROPOSALS, REJECTS, conform, rejects_frame


def split_proposals(proposal_ids, val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """proposal_id -> 'train' | 'val' | 'test', by a seeded hash order (stable when proposals are added)."""
    ids = sorted(set(map(str, proposal_ids)), key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    n = len(ids)
    n_test = math.ceil(test_fraction * n) if n >= 3 and test_fraction > 0 else 0
    n_val = math.ceil(val_fraction * n) if n >= 3 and val_fraction > 0 else 0
    out = {}
    for i, p in enumerate(ids):
        out[p] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def _image_problem(path: str) -> str | None:
    try:
        with Image.open(path) as im:
            im.verify()
        return None
    except FileNotFoundError:
        return "missing_file"
    except Exception:  # noqa: BLE001 - any decoder failure means a corrupt file
        return "corrupt_image"


def build_dataset(obs_shards: list[pd.DataFrame], obs_rejects: list[pd.DataFrame], proposals: pd.DataFrame,
                  proposal_rejects: pd.DataFrame, cfg: dict, seed: int, verify_images: bool = True):
    """(observations with split, proposals with split, all rejects) from the acquisition outputs."""
    from tqdm import tqdm

    rejects: list[dict] = []
    obs = pd.concat([conform(o, OBSERVATIONS, "observations") for o in obs_shards], ignore_index=True) if obs_shards else conform(pd.DataFrame(columns=[c.name for c in OBSERVATIONS if c.required]), OBSERVATIONS)
    props = conform(proposals, PROPOSALS, "proposals")

    def reject(kind, rid, reason, detail):
        rejects.append({"record_type": kind, "record_id": rid, "stage": "dataset", "reason": reason, "detail": detail})

    # proposals: duplicates, empty and huge abstracts
    dup = props["proposal_id"].duplicated(keep="first")
    for pid in props.loc[dup, "proposal_id"]:
        reject("proposal", pid, "duplicate_proposal", f"proposal {pid} appears more than once; kept the first")
    props = props[~dup]
    length = props["abstract"].fillna("").str.strip().str.len()
    short = length < cfg["min_abstract_chars"]
    long = length > cfg["max_abstract_chars"]
    for pid, n in zip(props.loc[short, "proposal_id"], length[short]):
        reject("proposal", pid, "empty_abstract", f"abstract has {n} characters (< {cfg['min_abstract_chars']})")
    for pid, n in zip(props.loc[long, "proposal_id"], length[long]):
        reject("proposal", pid, "abstract_too_long", f"abstract has {n} characters (> {cfg['max_abstract_chars']})")
    props = props[~short & ~long]

    # observations: duplicates, unreadable files, no text to pair with
    dup = obs["obs_id"].duplicated(keep="first")
    for oid in obs.loc[dup, "obs_id"]:
        reject("observation", oid, "duplicate_obs_id", f"observation {oid} appears more than once; kept the first")
    obs = obs[~dup]
    if verify_images:
        problems = [_image_problem(p) for p in tqdm(obs["path"], desc="verify images", mininterval=10)]
        bad = pd.Series([p is not None for p in problems], index=obs.index)
        for oid, path, why in zip(obs.loc[bad, "obs_id"], obs.loc[bad, "path"], [p for p in problems if p]):
            reject("observation", oid, why, f"{path} cannot be decoded" if why == "corrupt_image" else f"{path} does not exist")
        obs = obs[~bad]
    known = obs["proposal_id"].isin(set(props["proposal_id"]))
    for oid, pid in zip(obs.loc[~known, "obs_id"], obs.loc[~known, "proposal_id"]):
        reject("observation", oid, "no_abstract", f"proposal {pid} has no usable abstract")
    obs = obs[known]
    used = props["proposal_id"].isin(set(obs["proposal_id"]))
    for pid in props.loc[~used, "proposal_id"]:
        reject("proposal", pid, "no_observations", f"proposal {pid} has no usable observation")
    props = props[used]

    splits = split_proposals(props["proposal_id"], cfg["val_fraction"], cfg["test_fraction"], seed)
    obs = obs.assign(split=obs["proposal_id"].map(splits).astype("string"))
    props = props.assign(split=props["proposal_id"].map(splits).astype("string"))
    all_rejects = pd.concat([conform(r, REJECTS, "rejects") for r in [*obs_rejects, proposal_rejects, rejects_frame(rejects)]
                             if len(r)], ignore_index=True) if (rejects or any(len(r) for r in [*obs_rejects, proposal_rejects])) else rejects_frame([])
    return obs.reset_index(drop=True), props.reset_index(drop=True), all_rejects
