"""Proposal-abstract summaries for one shard of proposals, by any backend, through the cache.

Every proposal that enters ends in exactly one of two tables: the summaries (``SUMMARY_COLUMNS``) or the
rejects (``contracts.REJECTS`` plus ``raw``, the model's last answer, truncated). Why a proposal is
rejected:

* ``empty_abstract`` / ``duplicate_proposal_id`` -- bad input, no call made;
* ``invalid_json`` / ``schema_violation`` -- the model's answer stayed unusable after
  ``max_schema_retries`` re-asks (each re-ask shows the model its answer and the validation error). These
  are cached like answers (``cache_rejects``), so a rerun does not pay for them again;
* ``http_<code>`` / ``timeout`` / ``connection_error`` / ``batch_*`` -- the server did not answer after
  ``max_retries`` (a batch line: after ``batch.max_resubmits`` resends); never cached, so a rerun asks again
  (a transient reject found in the cache is asked again too);
* ``no_vocabulary_match`` (``keywords``), ``llm_disabled`` (``none``).

Errors that would hit every proposal alike (a wrong key: 401/403; an unknown model: 404) stop the job with
one line instead. How the model is asked (real time, Batch API) is :mod:`skytext.llm.runner`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skytext.core.contracts import REJECTS, rejects_frame, write_table

from skytext.llm.cache import Cache, sha256_json
from skytext.llm.client import ChatClient, Stats
from skytext.llm.cost import cost_report
from skytext.llm.keywords import keyword_summary, load_vocabulary
from skytext.llm.prompt import Prompt, load_prompt
from skytext.llm.runner import RAW_MAX, SUMMARY_SPEC, Outcome, ask_cached
from skytext.llm.schema import SUMMARY_SCHEMA, SchemaViolation, response_format

log = logging.getLogger(__name__)

STAGE = "summarise"
LLM_BACKENDS = ("openai", "openai-batch")
SUMMARY_SCHEMA_PA = pa.schema([
    ("proposal_id", pa.string()),
    ("objects_and_phenomena", pa.list_(pa.string())),
    ("science_use_cases", pa.list_(pa.string())),
    ("backend", pa.string()),
    ("model", pa.string()),
    ("prompt_version", pa.string()),
])
SUMMARY_COLUMNS = tuple(SUMMARY_SCHEMA_PA.names)


@dataclass
class ShardResult:
    """One shard's (or the gathered) summaries, rejects and run summary."""

    summaries: pd.DataFrame
    rejects: pd.DataFrame
    run: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answers:
    """The outcomes of one backend over a shard's rows, and what produced them."""

    outcomes: list[Outcome]
    model: str = ""
    prompt_version: str = ""
    batch_ids: list[str] = field(default_factory=list)
    price_factor: float = 1.0


# ---------------------------------------------------------------------------------------------- helpers


def request_params(cfg: dict[str, Any], prompt: Prompt) -> dict[str, Any]:
    """The sampling parameters sent with every request (and hashed into the cache key)."""
    return {"temperature": cfg["temperature"], "max_tokens": cfg["max_tokens"], "seed": cfg["seed"],
            "response_format": response_format(prompt.name)}


def cache_key(model: str, prompt: Prompt, params: dict[str, Any], title: str, category: str, abstract: str) -> str:
    """Content address of one summary: model, prompt version + text hash, params (schema included), input."""
    text_in = {"title": title.strip(), "category": category.strip(), "abstract": " ".join(abstract.split())}
    return sha256_json({"task": "proposal_summary", "model": model, "prompt_version": prompt.version,
                        "prompt_sha": prompt.sha, "params": params, "schema": SUMMARY_SCHEMA,
                        "input_sha": sha256_json(text_in)})


def _clean(s: Any) -> str:
    return "" if s is None or (isinstance(s, float) and pd.isna(s)) else str(s)


def split_rows(proposals: pd.DataFrame) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(rows to summarise, rejects of bad input: a repeated proposal id, an empty abstract)."""
    rows, rejects = [], []
    seen: set[str] = set()
    for r in proposals.to_dict("records"):
        row = {k: _clean(r.get(k)) for k in ("proposal_id", "title", "category", "abstract")}
        pid = row["proposal_id"]
        if pid in seen:
            rejects.append(_reject(Outcome(pid, reason="duplicate_proposal_id",
                                           detail="proposal id seen earlier in the shard")))
        elif not row["abstract"].strip():
            rejects.append(_reject(Outcome(pid, reason="empty_abstract", detail="no abstract text to summarise")))
        else:
            rows.append(row)
        seen.add(pid)
    return rows, rejects


# ---------------------------------------------------------------------------------------------- backends


def keyword_answers(rows: list[dict[str, str]], vocab_path: str | Path | None) -> Answers:
    """Answers of the offline ``keywords`` backend (vocabulary matches; no call)."""
    vocab = load_vocabulary(vocab_path)
    outcomes = []
    for r in rows:
        try:
            outcomes.append(Outcome(r["proposal_id"], keyword_summary(vocab, r["title"], r["category"], r["abstract"])))
        except SchemaViolation as err:
            outcomes.append(Outcome(r["proposal_id"], reason=err.reason, detail=err.detail))
    return Answers(outcomes, vocab.model, vocab.version)


def llm_answers(rows: list[dict[str, str]], cfg: dict[str, Any], prompt_path: str | Path,
                client: ChatClient | None, stats: Stats) -> Answers:
    """Answers from the cache, the rest from the model (each cached as soon as it is settled)."""
    prompt = load_prompt(prompt_path)
    model, params, cache = cfg["model"], request_params(cfg, prompt), Cache(cfg["cache_dir"])
    requests = {r["proposal_id"]: (cache_key(model, prompt, params, r["title"], r["category"], r["abstract"]),
                                   prompt.messages(r["title"], r["category"], r["abstract"])) for r in rows}
    batch = cfg["backend"] == "openai-batch"
    outs, batch_ids = ask_cached(requests, params, cfg, SUMMARY_SPEC, cache, stats, client, cfg["backend"])
    return Answers(list(outs.values()), model, prompt.version, batch_ids,
                   float(cfg["batch"]["price_factor"]) if batch else 1.0)


# ---------------------------------------------------------------------------------------------- the shard


def summarise_proposals(proposals: pd.DataFrame, cfg: dict[str, Any], prompt_path: str | Path,
                        vocab_path: str | Path | None = None, client: ChatClient | None = None) -> ShardResult:
    """Summaries, rejects and the run summary for ``proposals`` (PROPOSALS rows) with the ``llm`` config."""
    t0 = time.monotonic()
    backend = cfg["backend"]  # one of the schema's enum: config.check has seen it
    stats = client.stats if client is not None else Stats()
    rows, rejects = split_rows(proposals)
    if backend in LLM_BACKENDS:
        ans = llm_answers(rows, cfg, prompt_path, client, stats)
    elif backend == "keywords":
        ans = keyword_answers(rows, vocab_path)
    else:  # none
        ans = Answers([Outcome(r["proposal_id"], reason="llm_disabled", detail="llm.backend is 'none'") for r in rows])
    summaries = summaries_frame([o for o in ans.outcomes if o.ok], backend, ans.model, ans.prompt_version)
    rej = rejects_table(rejects + [_reject(o) for o in ans.outcomes if not o.ok])
    run = run_summary(backend, ans, len(proposals), len(summaries), rej, stats)
    run["wall_s"] = round(time.monotonic() - t0, 3)
    add_costs(run, cfg["prices"])
    return ShardResult(summaries, rej, run)


def run_summary(backend: str, ans: Answers, n_proposals: int, n_summaries: int, rej: pd.DataFrame,
                stats: Stats) -> dict[str, Any]:
    """The shard's ``run.json`` counters (costs added by :func:`add_costs`)."""
    s = stats.as_dict()
    answered = [o for o in ans.outcomes if o.ok or o.content_failure]
    return {
        "backend": backend, "model": ans.model, "prompt_version": ans.prompt_version,
        "proposals": int(n_proposals), "summarised": int(n_summaries), "rejected": int(len(rej)),
        "reject_reasons": rej["reason"].value_counts().to_dict() if len(rej) else {},
        "calls": s["requests"], "cache_hits": s["cache_hits"], "retries": s["retries"],
        "schema_retries": s["schema_retries"], "errors": s["errors"],
        "tokens_in": s["tokens_in"], "tokens_out": s["tokens_out"],
        "batch_tokens_in": s["batch_tokens_in"], "batch_tokens_out": s["batch_tokens_out"],
        # tokens of every answer used here, cached or not: what a fresh run over these abstracts costs
        "answers": len(answered), "answer_tokens_in": sum(o.tokens_in for o in answered),
        "answer_tokens_out": sum(o.tokens_out for o in answered),
        "batch_ids": [b for b in ans.batch_ids if b], "price_factor": ans.price_factor,
    }


def add_costs(run: dict[str, Any], prices: dict[str, Any]) -> dict[str, Any]:
    """Fill ``cost_usd`` (this run's calls: Batch API tokens at ``price_factor``, the rest at the full price)
    and ``cost_per_1000_abstracts_usd`` (all answers used, at ``price_factor``)."""
    model, factor = run["model"], float(run["price_factor"])
    if run["backend"] not in LLM_BACKENDS:
        run.update(cost_usd=0.0, cost_per_1000_abstracts_usd=0.0, priced=True)
        return run
    # a run.json written before batch tokens were counted apart: every token at the run's price factor
    b_in, b_out = run.get("batch_tokens_in", run["tokens_in"]), run.get("batch_tokens_out", run["tokens_out"])
    now = cost_report(model, run["tokens_in"] - b_in, run["tokens_out"] - b_out, 1, prices, 1.0)
    batch = cost_report(model, b_in, b_out, 1, prices, factor)
    full = cost_report(model, run["answer_tokens_in"], run["answer_tokens_out"], run["answers"], prices, factor)
    cost = None if now["cost_usd"] is None else now["cost_usd"] + batch["cost_usd"]
    run.update(cost_usd=cost, cost_per_1000_abstracts_usd=full["cost_per_1000_abstracts_usd"], priced=now["priced"])
    return run


def summaries_frame(outcomes: list[Outcome], backend: str, model: str, prompt_version: str) -> pd.DataFrame:
    """The summaries table (sorted by proposal id)."""
    rows = sorted(outcomes, key=lambda o: o.rid)
    return pd.DataFrame({
        "proposal_id": pd.Series([o.rid for o in rows], dtype="string"),
        "objects_and_phenomena": [list(o.result["objects_and_phenomena"]) for o in rows],
        "science_use_cases": [list(o.result["science_use_cases"]) for o in rows],
        "backend": pd.Series([backend] * len(rows), dtype="string"),
        "model": pd.Series([model] * len(rows), dtype="string"),
        "prompt_version": pd.Series([prompt_version] * len(rows), dtype="string"),
    })


def _reject(o: Outcome) -> dict[str, str]:
    return {"record_type": "proposal", "record_id": o.rid, "stage": STAGE, "reason": o.reason or "error",
            "detail": o.detail.splitlines()[0][:300] if o.detail else "", "raw": o.raw[:RAW_MAX]}


def rejects_table(rows: list[dict[str, str]]) -> pd.DataFrame:
    """``contracts.REJECTS`` plus ``raw`` (the model's last answer, truncated)."""
    rows = sorted(rows, key=lambda r: r["record_id"])
    df = rejects_frame(rows)
    df["raw"] = pd.Series([r.get("raw", "") for r in rows], dtype="string")
    return df


def write_summaries(df: pd.DataFrame, path: str | Path) -> None:
    """Write the summaries table with explicit Arrow types (list<string> even when empty)."""
    table = pa.Table.from_pandas(df[list(SUMMARY_COLUMNS)], schema=SUMMARY_SCHEMA_PA, preserve_index=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def write_rejects(df: pd.DataFrame, path: str | Path) -> None:
    """Write the rejects table (contract REJECTS plus ``raw``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_table(df, path, REJECTS, "llm rejects")


def write_run(run: dict[str, Any], path: str | Path) -> None:
    """Write the run summary as sorted, indented JSON."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(run, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------- gather


def gather(summary_paths: list[str], reject_paths: list[str], run_paths: list[str],
           prices: dict[str, Any]) -> ShardResult:
    """Concatenate the shards' tables and add up their run summaries."""
    sums = [pd.read_parquet(p) for p in summary_paths]
    summaries = pd.concat(sums, ignore_index=True) if sums else pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    summaries = summaries.sort_values("proposal_id", kind="stable").reset_index(drop=True)
    rejs = [pd.read_parquet(p) for p in reject_paths]
    rejects = pd.concat(rejs, ignore_index=True) if rejs else rejects_table([])
    rejects = rejects.sort_values("record_id", kind="stable").reset_index(drop=True)
    runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in run_paths]
    run = merge_runs(runs)
    add_costs(run, prices)
    run["shards"] = len(runs)
    return ShardResult(summaries, rejects, run)


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counters of per-shard run summaries (names and the price factor from the first)."""
    out: dict[str, Any] = {}
    for run in runs:
        for k, v in run.items():
            if k in ("backend", "model", "prompt_version", "price_factor", "priced"):
                out.setdefault(k, v)
            elif k in ("errors", "reject_reasons"):
                agg = out.setdefault(k, {})
                for kk, vv in v.items():
                    agg[kk] = agg.get(kk, 0) + vv
            elif k == "batch_ids":
                out.setdefault(k, []).extend(v)
            elif k == "wall_s":
                out[k] = max(out.get(k, 0.0), v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and not k.startswith("cost"):
                out[k] = out.get(k, 0) + v
    return out
