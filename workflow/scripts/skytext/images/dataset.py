"""The image study's dataset: gather the acquisition shards, reject what cannot be used (duplicates, empty or
huge abstracts, undecodable images, observations without a text), and split by proposal (seeded; no
proposal straddles train/val/test)."""

from __future__ import annotations

import json

import pandas as pd
from PIL import Image

from skytext.core.contracts import OBSERVATIONS, PROPOSALS, REJECTS, conform, rejects_frame
from skytext.core.split import split_by_group


def image_problem(path: str) -> str | None:
    """``None`` when the image at ``path`` decodes, else the reject reason (missing_file, corrupt_image)."""
    try:
        with Image.open(path) as im:
            im.verify()
        return None
    except FileNotFoundError:
        return "missing_file"
    except Exception:  # noqa: BLE001 - any decoder failure means a corrupt file
        return "corrupt_image"


def _reject(kind: str, rid: str, reason: str, detail: str) -> dict:
    return {"record_type": kind, "record_id": rid, "stage": "dataset", "reason": reason, "detail": detail}


def clean_proposals(props: pd.DataFrame, min_chars: int, max_chars: int) -> tuple[pd.DataFrame, list[dict]]:
    """(proposals without duplicates or empty/too-long abstracts, their rejects)."""
    rejects = []
    dup = props["proposal_id"].duplicated(keep="first")
    rejects += [_reject("proposal", p, "duplicate_proposal", f"proposal {p} appears more than once; kept the first")
                for p in props.loc[dup, "proposal_id"]]
    props = props[~dup]
    length = props["abstract"].fillna("").str.strip().str.len()
    short, long = length < min_chars, length > max_chars
    rejects += [_reject("proposal", p, "empty_abstract", f"abstract has {n} characters (< {min_chars})")
                for p, n in zip(props.loc[short, "proposal_id"], length[short])]
    rejects += [_reject("proposal", p, "abstract_too_long", f"abstract has {n} characters (> {max_chars})")
                for p, n in zip(props.loc[long, "proposal_id"], length[long])]
    return props[~short & ~long], rejects


def clean_observations(obs: pd.DataFrame, verify_images: bool) -> tuple[pd.DataFrame, list[dict]]:
    """(observations without duplicate ids or undecodable image files, their rejects)."""
    from tqdm import tqdm

    rejects = []
    dup = obs["obs_id"].duplicated(keep="first")
    rejects += [_reject("observation", o, "duplicate_obs_id", f"observation {o} appears more than once; kept the first")
                for o in obs.loc[dup, "obs_id"]]
    obs = obs[~dup]
    if verify_images:
        problems = [image_problem(p) for p in tqdm(obs["path"], desc="verify images", mininterval=10)]
        bad = pd.Series([p is not None for p in problems], index=obs.index)
        for oid, path, why in zip(obs.loc[bad, "obs_id"], obs.loc[bad, "path"], [p for p in problems if p]):
            detail = f"{path} cannot be decoded" if why == "corrupt_image" else f"{path} does not exist"
            rejects.append(_reject("observation", oid, why, detail))
        obs = obs[~bad]
    return obs, rejects


def build_dataset(obs_shards: list[pd.DataFrame], obs_rejects: list[pd.DataFrame], proposals: pd.DataFrame,
                  proposal_rejects: pd.DataFrame, cfg: dict, seed: int):
    """(observations with split, proposals with split, all rejects) from the acquisition outputs.

    ``cfg``: the ``images.dataset`` leaves ``val_fraction``, ``test_fraction``, ``min_abstract_chars``,
    ``max_abstract_chars``, ``verify_images``.
    """
    if obs_shards:
        obs = pd.concat([conform(o, OBSERVATIONS, "observations") for o in obs_shards], ignore_index=True)
    else:
        obs = conform(pd.DataFrame(columns=[c.name for c in OBSERVATIONS if c.required]), OBSERVATIONS)
    props, rejects = clean_proposals(conform(proposals, PROPOSALS, "proposals"), cfg["min_abstract_chars"],
                                     cfg["max_abstract_chars"])
    obs, obs_rej = clean_observations(obs, cfg["verify_images"])
    rejects += obs_rej
    known = obs["proposal_id"].isin(set(props["proposal_id"]))
    rejects += [_reject("observation", o, "no_abstract", f"proposal {p} has no usable abstract")
                for o, p in zip(obs.loc[~known, "obs_id"], obs.loc[~known, "proposal_id"])]
    obs = obs[known]
    used = props["proposal_id"].isin(set(obs["proposal_id"]))
    rejects += [_reject("proposal", p, "no_observations", f"proposal {p} has no usable observation")
                for p in props.loc[~used, "proposal_id"]]
    props = props[used]
    splits = split_by_group(props["proposal_id"], cfg["val_fraction"], cfg["test_fraction"], seed)
    obs = obs.assign(split=obs["proposal_id"].map(splits).astype("string"))
    props = props.assign(split=props["proposal_id"].map(splits).astype("string"))
    parts = [r for r in [*obs_rejects, proposal_rejects, rejects_frame(rejects)] if len(r)]
    all_rejects = pd.concat([conform(r, REJECTS, "rejects") for r in parts], ignore_index=True) if parts \
        else rejects_frame([])
    return obs.reset_index(drop=True), props.reset_index(drop=True), all_rejects


def dataset_summary(obs: pd.DataFrame, props: pd.DataFrame, rejects: pd.DataFrame) -> dict:
    """Counts of the dataset: rows, rows per split, rejects per reason."""
    return {
        "observations": int(len(obs)), "proposals": int(len(props)), "rejects": int(len(rejects)),
        "by_split": {s: {"observations": int((obs["split"] == s).sum()), "proposals": int((props["split"] == s).sum())}
                     for s in ("train", "val", "test")},
        "reject_reasons": {str(k): int(v) for k, v in rejects["reason"].value_counts().items()},
    }


def run_dataset(observations: list[str], rejects: list[str], proposals: str, proposal_rejects: str,
                out_observations: str, out_proposals: str, out_rejects: str, out_summary: str,
                cfg: dict, seed: int) -> dict:
    """Rule ``dataset``: read the shards, :func:`build_dataset`, write the three tables and the summary JSON."""
    obs, props, rej = build_dataset([pd.read_parquet(p) for p in observations], [pd.read_parquet(p) for p in rejects],
                                    pd.read_parquet(proposals), pd.read_parquet(proposal_rejects), cfg, seed)
    obs.to_parquet(out_observations, index=False)
    props.to_parquet(out_proposals, index=False)
    rej.to_parquet(out_rejects, index=False)
    summary = dataset_summary(obs, props, rej)
    with open(out_summary, "w") as fh:
        json.dump(summary, fh, indent=2)
    print(json.dumps(summary))
    return summary
