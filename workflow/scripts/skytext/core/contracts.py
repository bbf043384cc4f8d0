"""The dataset contract: the tables every source writes and every downstream rule reads.

A *source* (the demo sky, HST/MAST, later spectra or image triplets) writes, per shard:

* ``observations`` -- one row per observation that made it through acquisition;
* ``rejects``      -- one row per record that did not, with the reason.

and once:

* ``proposals``    -- one row per text record (an HST proposal; later a paper).

The ``dataset`` rule gathers the shards, attaches a ``split`` column and writes the three tables to
``results/{source}/dataset/``. Caption rules write ``results/{source}/captions/{caption}.parquet``
(:data:`CAPTIONS`). Nothing downstream of ``dataset`` knows which source produced the data: a new
observation modality only needs a new value in ``modality`` and a loader registered for it, and a new text
source only a new caption type keyed by ``text_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Column:
    """One column of a table contract: its name, pandas dtype, whether it is required, and what it holds."""

    name: str
    dtype: str  # pandas dtype name as written to Parquet
    required: bool = True  # a required column must be present; optional ones may be absent
    doc: str = ""


OBSERVATIONS = (
    Column("obs_id", "string", doc="unique observation id; safe to use as a file name"),
    Column("proposal_id", "string", doc="the text record this observation is paired with"),
    Column("modality", "string", doc="'image' today; 'spectrum', 'triplet' later"),
    Column("path", "string", doc="file holding the observation, relative to the working directory"),
    Column("cycle", "Int64", doc="observing cycle (nullable)"),
    Column("instrument", "string", doc="instrument name, or '' when unknown"),
    Column("filter", "string", doc="filter/band name, or '' when unknown"),
    Column("target", "string", doc="archive target name, or ''"),
    Column("gt_class", "string", required=False, doc="ground-truth object class (demo only)"),
    Column("gt_attrs", "string", required=False, doc="ground-truth attributes as JSON (demo only)"),
)

PROPOSALS = (
    Column("proposal_id", "string"),
    Column("title", "string"),
    Column("category", "string", doc="science category, '' when unknown"),
    Column("cycle", "Int64"),
    Column("pi", "string", doc="principal investigator, '' when unknown"),
    Column("prop_type", "string", doc="proposal type (GO, GTO, SNAP, ...), '' when unknown"),
    Column("abstract", "string"),
    Column("gt_class", "string", required=False, doc="ground-truth class of the proposal (demo only)"),
    Column("gt_attrs", "string", required=False, doc="ground-truth attributes as JSON (demo only)"),
)

REJECTS = (
    Column("record_type", "string", doc="'observation', 'proposal', 'caption', 'product', ..."),
    Column("record_id", "string", doc="obs_id / proposal_id / file name of the rejected record"),
    Column("stage", "string", doc="rule that rejected it"),
    Column("reason", "string", doc="short machine-friendly reason, e.g. 'corrupt_image'"),
    Column("detail", "string", doc="one human-readable line"),
)

CAPTIONS = (
    Column("text_id", "string", doc="id of the text; equals proposal_id for proposal-derived captions"),
    Column("proposal_id", "string"),
    Column("caption", "string", doc="caption type: abstract | summary | title | keywords | ..."),
    Column("text", "string"),
)

SPLITS = ("train", "val", "test")


class ContractError(ValueError):
    """A table does not follow the dataset contract."""


def empty(spec: tuple[Column, ...], optional: bool = False) -> pd.DataFrame:
    """An empty frame with the contract's columns and dtypes."""
    cols = [c for c in spec if c.required or optional]
    return pd.DataFrame({c.name: pd.Series([], dtype=c.dtype) for c in cols})


def conform(df: pd.DataFrame, spec: tuple[Column, ...], name: str = "table") -> pd.DataFrame:
    """Check ``df`` has the required columns and cast every contract column to its dtype.

    Extra columns are kept (sources may carry more); missing required columns raise
    :class:`ContractError` naming them.
    """
    missing = [c.name for c in spec if c.required and c.name not in df.columns]
    if missing:
        raise ContractError(f"{name}: missing required column(s) {', '.join(missing)}")
    out = df.copy()
    for c in spec:
        if c.name in out.columns:
            try:
                out[c.name] = out[c.name].astype(c.dtype)
            except (TypeError, ValueError) as exc:
                raise ContractError(f"{name}: column {c.name!r} cannot be read as {c.dtype}: {exc}") from exc
    return out.reset_index(drop=True)


def rejects_frame(rows: list[dict]) -> pd.DataFrame:
    """Build a rejects table from dicts with the REJECTS keys (missing ones become '')."""
    if not rows:
        return empty(REJECTS)
    df = pd.DataFrame([{c.name: str(r.get(c.name, "") or "") for c in REJECTS} for r in rows])
    return conform(df, REJECTS, "rejects")


def write_table(df: pd.DataFrame, path, spec: tuple[Column, ...], name: str = "table") -> pd.DataFrame:
    """Conform ``df`` to ``spec``, write it as Parquet to ``path``, and return the conformed table."""
    df = conform(df, spec, name)
    df.to_parquet(path, index=False)
    return df


def read_table(path, spec: tuple[Column, ...], name: str | None = None) -> pd.DataFrame:
    """The Parquet table at ``path``, conformed to ``spec`` (a one-line error names a missing column)."""
    return conform(pd.read_parquet(path), spec, name or str(path))
