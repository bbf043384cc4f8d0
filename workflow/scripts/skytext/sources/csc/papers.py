"""Papers of the ``csc`` source: SIMBAD bibcodes per source and ADS abstracts per bibcode, cached on disk
(see :mod:`skytext.sources.csc` for the endpoints)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from skytext.core.safepath import safe_join
from skytext.sources.csc.tap import read_json, tap_query
from skytext.sources.download import DownloadPolicy, FetchError, with_retries, write_atomic


def simbad_lookup(ra: float, dec: float, csc: dict, policy: DownloadPolicy) -> dict:
    """``{"bibcodes": [...], "otype": str}``: the bibcodes of the SIMBAD objects within ``match_radius_arcsec``
    of (ra, dec), newest first, and the object type of the nearest of them ('' when none)."""
    r = csc["match_radius_arcsec"] / 3600.0
    adql = ("SELECT b.main_id, b.otype, b.ra, b.dec, r.bibcode FROM basic AS b JOIN has_ref AS h ON b.oid = h.oidref "
            "JOIN ref AS r ON r.oidbib = h.oidbibref "
            f"WHERE CONTAINS(POINT('ICRS', b.ra, b.dec), CIRCLE('ICRS', {ra:.7f}, {dec:.7f}, {r:.7f})) = 1")
    df = tap_query(csc["simbad_tap_url"], adql, policy, "simbad tap")
    codes = [str(c).strip() for c in df.get("bibcode", pd.Series(dtype=str)) if str(c).strip()]
    otype = ""
    if len(df) and {"otype", "ra", "dec"} <= set(df.columns):
        d = np.hypot((pd.to_numeric(df["ra"], errors="coerce") - ra) * np.cos(np.radians(dec)),
                     pd.to_numeric(df["dec"], errors="coerce") - dec).fillna(np.inf)
        v = df["otype"].iloc[int(np.argmin(d.to_numpy()))]
        otype = v.strip() if isinstance(v, str) else ""  # NULL/masked: no type
    return {"bibcodes": sorted(dict.fromkeys(codes), key=lambda c: c[:4], reverse=True)[: csc["max_papers"]],
            "otype": otype}


def otype_class(otype: str, class_map: dict[str, list[str]]) -> str:
    """The study's class of a SIMBAD otype (``class_map``: class -> otypes), 'unknown' when unmapped."""
    for cls, otypes in class_map.items():
        if otype in otypes:
            return cls
    return "unknown"


def ads_token(csc: dict) -> str:
    """The ADS API token from the environment variable ``ads_token_env`` names (exits when unset)."""
    name = csc["ads_token_env"]
    token = os.environ.get(name, "")
    if not token:
        raise SystemExit(f"config error: the ADS token variable {name} (spectra.csc.ads_token_env) is not set")
    return token


def ads_abstracts(bibcodes: list[str], csc: dict, token: str, policy: DownloadPolicy) -> dict[str, dict]:
    """bibcode -> {title, abstract} from the ADS search API (retried); bibcodes ADS lacks are absent."""
    url = f"{csc['ads_url'].rstrip('/')}/search/query"
    params = {"q": "bibcode:(" + " OR ".join(f'"{b}"' for b in bibcodes) + ")", "fl": "bibcode,title,abstract",
              "rows": str(len(bibcodes))}

    def attempt():
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {token}"
            r = s.get(url, params=params, timeout=policy.timeout_s)
            r.raise_for_status()
            try:
                return r.json()["response"]["docs"]
            except (ValueError, KeyError, TypeError) as exc:
                raise FetchError("bad_json", f"ADS answer is not the search JSON: {type(exc).__name__}", True) from exc

    docs = with_retries(attempt, policy, f"ads {len(bibcodes)} bibcodes")
    out = {}
    for d in docs:
        title = d.get("title") or [""]
        out[str(d.get("bibcode", ""))] = {"title": title[0] if isinstance(title, list) else str(title),
                                          "abstract": d.get("abstract") or ""}
    return out


def ads_papers(bibs: list[str], n_links: pd.Series, csc: dict, ads_dir: Path, policy: DownloadPolicy,
               reject, stats: dict) -> list[dict]:
    """Paper rows for ``bibs`` from the ADS cache in ``ads_dir``, asking ADS in batches for the rest; a batch
    that fails becomes rejects (via ``reject``), a bibcode ADS lacks is stored with no abstract (the dataset
    then rejects it as ``no_abstract``)."""
    ads_dir.mkdir(parents=True, exist_ok=True)
    cached = {b: read_json(safe_join(ads_dir, f"{b}.json")) for b in bibs}
    missing = [b for b in bibs if cached[b] is None]
    token = ads_token(csc) if missing else ""
    for i in range(0, len(missing), csc["ads_batch"]):
        batch = missing[i: i + csc["ads_batch"]]
        try:
            got = ads_abstracts(batch, csc, token, policy)
        except FetchError as err:
            for b in batch:
                reject("paper", b, f"ads_{err.reason}", err.detail)
            continue
        stats["ads"] += 1
        for b in batch:
            doc = got.get(b, {"title": "", "abstract": ""})
            write_atomic(safe_join(ads_dir, f"{b}.json"), lambda p, d=doc: p.write_text(json.dumps(d)))
            cached[b] = doc
    return [{"text_id": b, "title": cached[b]["title"], "abstract": cached[b]["abstract"],
             "kind": "individual" if n_links.get(b, 0) <= 1 else "population"} for b in bibs if cached[b] is not None]


def gather_papers(papers: list[pd.DataFrame], links: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shards' papers and links as one table each (a paper found by several shards kept once; its kind
    recounted over all its sources)."""
    lnk = pd.concat(links, ignore_index=True).drop_duplicates() if links else pd.DataFrame(columns=["text_id", "source_id"])
    pap = pd.concat(papers, ignore_index=True).drop_duplicates("text_id") if papers else pd.DataFrame(
        columns=["text_id", "title", "abstract", "kind"])
    n = lnk["text_id"].value_counts()
    pap = pap.assign(kind=np.where(pap["text_id"].map(n).fillna(0) > 1, "population", "individual"))
    return pap.reset_index(drop=True).astype("string"), lnk.reset_index(drop=True).astype("string")


