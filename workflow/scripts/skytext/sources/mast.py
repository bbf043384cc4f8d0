"""Discover HST observations on MAST and choose which products to download (PAPERCLIP's selection).

:func:`build_plan` is the whole discovery step: it asks MAST (through the real ``astroquery`` client) for
the public HST observations of the chosen proposals, lists their products, keeps the ones the product
rules allow (default: ``PREVIEW`` JPEGs whose names contain ``total``, colour composites excluded), samples
at most N per proposal without replacement with a per-proposal seed, and assigns each proposal to a shard.
Every observation that does not end up in the plan is returned as a reject with its reason.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Iterable

import numpy as np
import pandas as pd
from requests.adapters import HTTPAdapter

from skytext.sources.download import DownloadPolicy, with_retries
from skytext.core.safepath import safe_name
from skytext.core.sharding import shard_of

log = logging.getLogger(__name__)
STAGE = "hst_discover"

PLAN_COLUMNS = {
    "obs_id": "string",
    "proposal_id": "string",
    "shard": "string",
    "uri": "string",
    "filename": "string",
    "size": "Int64",
    "cycle": "Int64",
    "instrument": "string",
    "filter": "string",
    "target": "string",
    "fits_uri": "string",
    "fits_filename": "string",
    "fits_size": "Int64",
}


def normalise_proposal_id(value: Any) -> str:
    """``12345``, ``"12345"``, ``" 012345 "`` -> ``"12345"``; anything else raises ``ValueError``."""
    text = str(value).strip()
    if not re.fullmatch(r"\d+", text):
        raise ValueError(f"hst: proposal id {value!r} is not an integer")
    return str(int(text))


# ----------------------------------------------------------------------------------------- client


class _TimeoutAdapter(HTTPAdapter):
    """astroquery's portal requests carry no timeout; this adapter gives every request one."""

    def __init__(self, timeout_s: float, **kw):
        self.timeout_s = timeout_s
        super().__init__(**kw)

    def send(self, request, **kw):  # noqa: D401 - requests API
        """Send ``request`` with this adapter's timeout unless the caller gave one."""
        if kw.get("timeout") is None:
            kw["timeout"] = self.timeout_s
        return super().send(request, **kw)


def mast_client(mast_url: str, timeout_s: float):
    """An ``astroquery.mast.ObservationsClass`` whose portal URLs point at ``mast_url``.

    astroquery builds its URLs from ``conf.server`` when the module is imported, as class attributes, so
    changing ``conf.server`` later has no effect; we set the instance attributes of this client's
    ``PortalAPI`` instead, which leaves the global ``Observations`` untouched.
    """
    from astroquery.mast import ObservationsClass

    base = mast_url.rstrip("/")
    client = ObservationsClass()
    portal = client._portal_api_connection
    portal.MAST_REQUEST_URL = f"{base}/api/v0/invoke"
    portal.COLUMNS_CONFIG_URL = f"{base}/portal/Mashup/Mashup.asmx/columnsconfig"
    portal.MAST_DOWNLOAD_URL = f"{base}/api/v0.1/Download/file"
    portal.MAST_BUNDLE_URL = f"{base}/api/v0.1/Download/bundle"
    portal.TIMEOUT = max(float(timeout_s) * 10, 600.0)  # its own wall limit for 'EXECUTING' polling
    adapter = _TimeoutAdapter(timeout_s)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    return client


def _to_frame(table) -> pd.DataFrame:
    if table is None or len(table) == 0:
        return pd.DataFrame()
    return table.to_pandas()


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i : i + size]


def query_observations(client, proposal_ids: list[str], policy: DownloadPolicy, batch: int) -> pd.DataFrame:
    """Public HST observations of ``proposal_ids`` (one portal query per ``batch`` proposals)."""
    frames = []
    for chunk in _batches(proposal_ids, batch):
        def call(chunk=chunk):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # NoResultsWarning for an empty answer
                return client.query_criteria(obs_collection="HST", proposal_id=chunk, dataRights="PUBLIC")

        frames.append(_to_frame(with_retries(call, policy, f"query_criteria({len(chunk)} proposals)")))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["obsid", "obs_id", "proposal_id"])
    obs = pd.concat(frames, ignore_index=True)
    obs["obsid"] = obs["obsid"].astype(str)
    obs["proposal_id"] = obs["proposal_id"].astype(str).str.strip()
    return obs.drop_duplicates("obsid").reset_index(drop=True)


def query_products(client, obsids: list[str], policy: DownloadPolicy, batch: int) -> pd.DataFrame:
    """All products of the observations ``obsids`` (one portal query per ``batch`` observations)."""
    frames = []
    for chunk in _batches(obsids, batch):
        def call(chunk=chunk):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return client.get_product_list(list(chunk))

        frames.append(_to_frame(with_retries(call, policy, f"get_product_list({len(chunk)} observations)")))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["obsID", "productFilename", "productType", "dataURI", "size"])
    prods = pd.concat(frames, ignore_index=True)
    group = prods["parent_obsid"] if "parent_obsid" in prods.columns else prods["obsID"]
    prods["group_obsid"] = group.fillna(prods["obsID"]).astype(str)
    return prods


# ----------------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class ProductRules:
    """Which products become images (and, optionally, which FITS products come with them);
    :meth:`from_config` builds them from the config section ``hst``."""

    product_type: str
    extensions: tuple[str, ...]
    name_contains: tuple[str, ...]
    name_excludes: tuple[str, ...]
    exclude_color: bool
    fits: bool
    fits_suffixes: tuple[str, ...]
    excludes: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self):
        ex = tuple(s.lower() for s in self.name_excludes) + (("color",) if self.exclude_color else ())
        object.__setattr__(self, "excludes", ex)

    @classmethod
    def from_config(cls, hst: dict) -> "ProductRules":
        """From the complete config section ``hst`` (defaults filled in by the schema)."""
        pf = hst["product_filter"]
        return cls(
            product_type=pf["product_type"],
            extensions=tuple(pf["extensions"]),
            name_contains=tuple(pf["name_contains"]),
            name_excludes=tuple(pf["name_excludes"]),
            exclude_color=bool(hst["exclude_color"]),
            fits=bool(hst["fits"]),
            fits_suffixes=tuple(hst["fits_suffixes"]),
        )

    def is_image(self, product_type: str, filename: str) -> bool:
        """Whether a product of this type and file name is a preview image to download."""
        name = str(filename).lower()
        return (
            str(product_type).upper() == self.product_type.upper()
            and name.rsplit(".", 1)[-1] in {e.lower().lstrip(".") for e in self.extensions}
            and all(s.lower() in name for s in self.name_contains)
            and not any(s in name for s in self.excludes)
        )


def _basename(filename: str) -> str:
    return PurePosixPath(str(filename).replace("\\", "/")).name


def _stem(filename: str) -> str:
    return _basename(filename).rsplit(".", 1)[0]


def _reject(rtype: str, rid: str, reason: str, detail: str, pid: str, shards: int) -> dict:
    return {
        "record_type": rtype,
        "record_id": rid,
        "stage": STAGE,
        "reason": reason,
        "detail": detail,
        "proposal_id": pid,
        "shard": str(shard_of(pid, shards)),
    }


def _product_table(products: pd.DataFrame) -> pd.DataFrame:
    """The product list with a ``filename`` column, one row per file name."""
    prods = products.copy()
    if prods.empty:
        prods = pd.DataFrame(columns=["group_obsid", "productFilename", "productType", "dataURI", "size"])
    prods["filename"] = prods["productFilename"].astype(str)
    return prods.drop_duplicates("filename")


def _image_candidates(prods: pd.DataFrame, obs: pd.DataFrame, rules: ProductRules, shards: int,
                      rejects: list[dict]) -> pd.DataFrame:
    """Products the rules allow as images and whose observation was queried; orphans become rejects."""
    is_img = [rules.is_image(t, f) for t, f in zip(prods["productType"], prods["filename"])]
    cands = prods[np.array(is_img, dtype=bool)].copy()
    known = cands["group_obsid"].isin(obs["obsid"] if not obs.empty else [])
    for _, p in cands[~known].iterrows():
        rejects.append(_reject("product", p["filename"], "orphan_product",
                               f"product of unknown observation {p['group_obsid']}", "0", shards))
    return cands[known]


def _fits_by_stem(prods: pd.DataFrame, rules: ProductRules) -> dict[str, pd.Series]:
    """The FITS science product (first of ``rules.fits_suffixes``) for each file stem; empty unless ``fits``."""
    found: dict[str, pd.Series] = {}
    if not rules.fits:
        return found
    sfx = tuple(f"_{s.lower()}" for s in rules.fits_suffixes)
    for _, p in prods.iterrows():
        name = p["filename"].lower()
        if name.endswith((".fits", ".fits.gz")) and _stem(name).removesuffix(".fits").endswith(sfx):
            found.setdefault(_stem(p["filename"]).removesuffix(".fits"), p)
    return found


def _plan_row(obs_id: str, p: pd.Series, o: pd.Series, fits: pd.Series | None, cycle: int | None,
              shards: int) -> dict:
    pid = str(o["proposal_id"])
    return {
        "obs_id": obs_id,
        "proposal_id": pid,
        "shard": str(shard_of(pid, shards)),
        "uri": str(p["dataURI"]),
        "filename": p["filename"],
        "size": p.get("size"),
        "cycle": cycle,
        "instrument": _text(o.get("instrument_name")),
        "filter": _text(o.get("filters")),
        "target": _text(o.get("target_name")),
        "fits_uri": None if fits is None else str(fits["dataURI"]),
        "fits_filename": None if fits is None else _basename(fits["filename"]),
        "fits_size": None if fits is None else fits.get("size"),
        "group_obsid": p["group_obsid"],
    }


def _candidate_plan(cands: pd.DataFrame, obs: pd.DataFrame, fits_by_stem: dict[str, pd.Series],
                    cycles: dict[str, int | None], shards: int, rejects: list[dict]) -> pd.DataFrame:
    """One plan row per candidate with a safe, unique ``obs_id`` (the file stem); the others become rejects."""
    obs_by_id = obs.set_index("obsid", drop=False) if not obs.empty else obs
    rows: list[dict] = []
    seen_ids: dict[str, str] = {}
    for _, p in cands.iterrows():
        o = obs_by_id.loc[p["group_obsid"]]
        pid = str(o["proposal_id"])
        try:
            obs_id = safe_name(_stem(p["filename"]))
        except ValueError as exc:
            rejects.append(_reject("product", str(p["filename"])[:200], "unsafe_name", str(exc), pid, shards))
            continue
        if obs_id in seen_ids:
            rejects.append(_reject("product", obs_id, "duplicate_obs_id",
                                   f"{p['filename']!r} and {seen_ids[obs_id]!r} sanitise to the same name", pid, shards))
            continue
        seen_ids[obs_id] = p["filename"]
        rows.append(_plan_row(obs_id, p, o, fits_by_stem.get(_stem(p["filename"])), cycles.get(pid), shards))
    return pd.DataFrame(rows, columns=[*PLAN_COLUMNS, "group_obsid"])


def sample_per_proposal(plan: pd.DataFrame, max_per_proposal: int, seed: int, shards: int,
                        rejects: list[dict]) -> pd.DataFrame:
    """At most ``max_per_proposal`` rows per proposal: its rows sorted by file name, drawn without
    replacement by ``numpy.random.default_rng([seed, proposal_id])``; the rest become ``over_cap`` rejects."""
    kept: list[pd.DataFrame] = []
    for pid, group in plan.groupby("proposal_id", sort=True):
        group = group.sort_values("filename")
        if len(group) > max_per_proposal:
            rng = np.random.default_rng([int(seed), int(pid)])
            pick = np.sort(rng.choice(len(group), size=max_per_proposal, replace=False))
            mask = np.zeros(len(group), dtype=bool)
            mask[pick] = True
            for _, r in group[~mask].iterrows():
                rejects.append(_reject("product", r["obs_id"], "over_cap",
                                       f"not sampled: proposal {pid} has {len(group)} candidates, cap {max_per_proposal}",
                                       pid, shards))
            group = group[mask]
        kept.append(group)
    return pd.concat(kept, ignore_index=True) if kept else plan


def _reject_observations_without_candidates(obs: pd.DataFrame, cands: pd.DataFrame, shards: int,
                                            rejects: list[dict]) -> None:
    with_candidates = set(cands["group_obsid"])
    for _, o in obs.iterrows():
        if o["obsid"] not in with_candidates:
            rejects.append(_reject("observation", str(o["obs_id"]), "no_matching_preview",
                                   f"no product of observation {o['obs_id']} passes the product rules",
                                   str(o["proposal_id"]), shards))


def select_products(
    obs: pd.DataFrame,
    products: pd.DataFrame,
    rules: ProductRules,
    max_per_proposal: int,
    seed: int,
    shards: int,
    proposal_cycles: dict[str, int | None] | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """The plan (one row per product to download) and the rejects of observations left out.

    Steps: the products the rules allow whose observation is known (:func:`_image_candidates`), one row per
    candidate with a safe unique ``obs_id`` and its optional FITS product (:func:`_candidate_plan`), the
    seeded per-proposal cap (:func:`sample_per_proposal`: the draw for a proposal does not depend on which
    other proposals are in the run), and a reject for every observation without a candidate.
    ``proposal_cycles``: proposal_id -> HST cycle from the abstracts catalogue, written into the plan.
    """
    rejects: list[dict] = []
    prods = _product_table(products)
    cands = _image_candidates(prods, obs, rules, shards, rejects)
    plan = _candidate_plan(cands, obs, _fits_by_stem(prods, rules), proposal_cycles or {}, shards,
                           rejects)
    plan = sample_per_proposal(plan, max_per_proposal, seed, shards, rejects)
    _reject_observations_without_candidates(obs, cands, shards, rejects)
    plan = plan.drop(columns=["group_obsid"]).astype(PLAN_COLUMNS)
    return plan.sort_values(["shard", "proposal_id", "obs_id"]).reset_index(drop=True), rejects


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is np.ma.masked:
        return ""
    return str(v).strip()


# ----------------------------------------------------------------------------------------- plan


def chosen_proposals(hst: dict, proposals: pd.DataFrame) -> list[str]:
    """Proposal ids to query: ``hst.proposal_ids`` plus catalogue proposals whose cycle is in ``hst.cycles``."""
    ids = {normalise_proposal_id(p) for p in hst["proposal_ids"]}
    cycles = hst["cycles"]
    if cycles:
        lo, hi = int(cycles[0]), int(cycles[1])
        c = proposals["cycle"]
        ids |= set(proposals.loc[c.notna() & (c >= lo) & (c <= hi), "proposal_id"].astype(str))
    if not ids and not cycles:
        raise ValueError("hst: set hst.proposal_ids and/or hst.cycles to choose what to download")
    return sorted(ids, key=int)


def build_plan(hst: dict, proposals: pd.DataFrame, shards: int, seed: int, client=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Discovery: ``(plan, rejects)`` for the complete config section ``hst`` (defaults filled in).

    ``rejects`` has the REJECTS columns plus ``proposal_id`` and ``shard`` so each shard job can carry its
    share into its rejects table.
    """
    policy = DownloadPolicy.from_config(hst["download"])
    client = client or mast_client(hst["mast_url"], policy.timeout_s)
    ids = chosen_proposals(hst, proposals)
    log.info("querying MAST for %d proposals", len(ids))
    obs = query_observations(client, ids, policy, int(hst["query_batch"]))
    log.info("%d public HST observations", len(obs))
    products = query_products(client, list(obs["obsid"]), policy, int(hst["product_batch"])) if len(obs) else pd.DataFrame()
    cycles = dict(zip(proposals["proposal_id"].astype(str), proposals["cycle"].astype("Int64")))
    cycles = {k: (None if pd.isna(v) else int(v)) for k, v in cycles.items()}
    plan, rejects = select_products(obs, products, ProductRules.from_config(hst), int(hst["max_images_per_proposal"]),
                                    int(seed), shards, cycles)
    found = set(obs["proposal_id"].astype(str)) if len(obs) else set()
    for pid in ids:
        if pid not in found:
            rejects.append(_reject("proposal", pid, "no_observations", f"MAST lists no public HST observations for proposal {pid}", pid, shards))
    rej = pd.DataFrame(rejects, columns=["record_type", "record_id", "stage", "reason", "detail", "proposal_id", "shard"]).astype("string")
    log.info("plan: %d products; %d rejects", len(plan), len(rej))
    return plan, rej
