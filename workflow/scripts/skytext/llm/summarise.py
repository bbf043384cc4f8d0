"""Proposal-abstract summaries for one shard of proposals, by any backend, through the cache.

Every proposal that enters ends in exactly one of two tables: the summaries (``SUMMARY_COLUMNS``) or the
rejects (``contracts.REJECTS`` plus ``raw``, the model's last answer, truncated). Why a proposal is
rejected:

* ``empty_abstract`` / ``duplicate_proposal_id`` -- bad input, no call made;
* ``invalid_json`` / ``schema_violation`` -- the model's answer stayed unusable after
  ``max_schema_retries`` re-asks (each re-ask shows the model its answer and the validation error). These
  are cached like answers (``cache_rejects``), so a rerun does not pay for them again;
* ``http_<code>`` / ``timeout`` / ``connection_error`` / ``batch_*`` -- the server did not answer after
  ``max_retries``; not cached, so a rerun asks again;
* ``no_vocabulary_match`` (``keywords``), ``llm_disabled`` (``none``).

Errors that would hit every proposal alike (a wrong key: 401/403; an unknown model: 404) stop the job with
one line instead.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skytext.core.contracts import REJECTS, rejects_frame, write_table

from skytext.llm.batch import BatchRunner
from skytext.llm.cache import Cache, sha256_json
from skytext.llm.client import ChatClient, ChatError, Message, RetryPolicy, Stats, assistant_message, resolve_api_key
from skytext.llm.client import result_from_completion, user_message
from skytext.llm.cost import cost_report
from skytext.llm.keywords import keyword_summary, load_vocabulary
from skytext.llm.prompt import Prompt, load_prompt
from skytext.llm.schema import SUMMARY_SCHEMA, SchemaViolation, parse_summary, response_format

log = logging.getLogger(__name__)

STAGE = "summarise"
BACKENDS = ("none", "openai", "openai-batch", "keywords")
LLM_BACKENDS = ("openai", "openai-batch")
FATAL_STATUS = ("http_401", "http_403", "http_404")
RAW_MAX = 2000
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
class Outcome:
    """The fate of one proposal."""

    proposal_id: str
    summary: dict[str, list[str]] | None = None
    reason: str = ""
    detail: str = ""
    raw: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cached: bool = False
    content_failure: bool = False  # the model answered, but unusably (cacheable)

    def record(self) -> dict[str, Any]:
        """What goes into the cache."""
        return {"status": "ok" if self.summary else "rejected", "summary": self.summary, "reason": self.reason,
                "detail": self.detail, "raw": self.raw[:RAW_MAX], "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out}

    @classmethod
    def from_record(cls, pid: str, rec: dict[str, Any]) -> "Outcome":
        return cls(pid, rec.get("summary"), rec.get("reason", ""), rec.get("detail", ""), rec.get("raw", ""),
                   int(rec.get("tokens_in", 0)), int(rec.get("tokens_out", 0)), cached=True,
                   content_failure=rec.get("status") != "ok")


@dataclass
class ShardResult:
    summaries: pd.DataFrame
    rejects: pd.DataFrame
    run: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- helpers


def request_params(cfg: dict[str, Any], prompt: Prompt) -> dict[str, Any]:
    """The sampling parameters sent with every request (and hashed into the cache key)."""
    return {"temperature": cfg.get("temperature", 0.0), "max_tokens": cfg.get("max_tokens"),
            "seed": cfg.get("seed"), "response_format": response_format(prompt.name)}


def cache_key(model: str, prompt: Prompt, params: dict[str, Any], title: str, category: str, abstract: str) -> str:
    """Content address of one summary: model, prompt version + text hash, params (schema included), input."""
    text_in = {"title": title.strip(), "category": category.strip(), "abstract": " ".join(abstract.split())}
    return sha256_json({"task": "proposal_summary", "model": model, "prompt_version": prompt.version,
                        "prompt_sha": prompt.sha, "params": params, "schema": SUMMARY_SCHEMA,
                        "input_sha": sha256_json(text_in)})


def correction(err: SchemaViolation) -> Message:
    """The re-ask after an unusable answer."""
    return user_message(f"That answer was not usable ({err.reason}: {err.detail}). Reply again with only a JSON "
                        "object with the lists objects_and_phenomena and science_use_cases (1 to 5 short strings "
                        "each).")


def _clean(s: Any) -> str:
    return "" if s is None or (isinstance(s, float) and pd.isna(s)) else str(s)


def _fatal(err: ChatError) -> bool:
    return err.reason in FATAL_STATUS


# ---------------------------------------------------------------------------------------------- backends


def _ask_realtime(client: ChatClient, prompt: Prompt, params: dict[str, Any], row: dict[str, str],
                  max_schema_retries: int, stats: Stats) -> Outcome:
    pid = row["proposal_id"]
    messages = prompt.messages(row["title"], row["category"], row["abstract"])
    out = Outcome(pid)
    for attempt in range(max_schema_retries + 1):
        try:
            res = client.chat(messages, what=f"proposal {pid}", **params)
        except ChatError as err:
            if _fatal(err):
                raise
            return Outcome(pid, reason=err.reason, detail=err.detail, raw=out.raw, tokens_in=out.tokens_in,
                           tokens_out=out.tokens_out)
        out.tokens_in += res.tokens_in
        out.tokens_out += res.tokens_out
        out.raw = res.content or ""
        try:
            out.summary = parse_summary(res.content)
            out.reason = out.detail = ""
            return out
        except SchemaViolation as err:
            out.reason, out.detail, out.content_failure = err.reason, err.detail, True
            if attempt < max_schema_retries:
                stats.add(schema_retries=1)
                log.info("proposal %s: %s (%s); asking again", pid, err.reason, err.detail[:120])
                messages = [*messages, assistant_message(res.content or ""), correction(err)]
    return out


def _run_realtime(client: ChatClient, prompt: Prompt, params: dict[str, Any], rows: list[dict[str, str]],
                  cfg: dict[str, Any], stats: Stats) -> list[Outcome]:
    workers = max(1, min(int(cfg.get("max_concurrency", 4)), len(rows) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
        futures = [pool.submit(_ask_realtime, client, prompt, params, r, int(cfg.get("max_schema_retries", 2)), stats)
                   for r in rows]
        return [f.result() for f in futures]


def _run_batch(client: ChatClient, prompt: Prompt, params: dict[str, Any], rows: list[dict[str, str]],
               cfg: dict[str, Any], state_dir: Path, stats: Stats, batch_ids: list[str]) -> list[Outcome]:
    bcfg = cfg.get("batch") or {}
    runner = BatchRunner(client, state_dir, float(bcfg.get("poll_interval_s", 30)), str(bcfg.get("completion_window", "24h")))
    body_params = {k: v for k, v in params.items() if v is not None}
    convo = {r["proposal_id"]: prompt.messages(r["title"], r["category"], r["abstract"]) for r in rows}
    done: dict[str, Outcome] = {}
    pending = [r["proposal_id"] for r in rows]
    outcomes = {pid: Outcome(pid) for pid in pending}
    rounds = int(cfg.get("max_schema_retries", 2)) + 1
    for rnd in range(rounds):
        if not pending:
            break
        requests = [(pid, {"model": client.model, "messages": convo[pid], **body_params}) for pid in pending]
        answers, info = runner.run(requests, tag=f"summary-r{rnd}")
        batch_ids.append(info.batch_id)
        again = []
        for pid in pending:
            ans, out = answers[pid], outcomes[pid]
            if ans.error:
                out.reason, out.detail, out.content_failure = ans.error, ans.detail, False
                done[pid] = out
                continue
            res = result_from_completion(ans.body or {}, client.model, stats)
            out.tokens_in += res.tokens_in
            out.tokens_out += res.tokens_out
            out.raw = res.content or ""
            try:
                out.summary = parse_summary(res.content)
                out.reason = out.detail = ""
                done[pid] = out
            except SchemaViolation as err:
                out.reason, out.detail, out.content_failure = err.reason, err.detail, True
                if rnd + 1 < rounds:
                    convo[pid] = [*convo[pid], assistant_message(res.content or ""), correction(err)]
                    again.append(pid)
                else:
                    done[pid] = out
        stats.add(schema_retries=len(again))
        pending = again
    return [done.get(r["proposal_id"], outcomes[r["proposal_id"]]) for r in rows]


def make_client(cfg: dict[str, Any], stats: Stats) -> ChatClient:
    """A :class:`ChatClient` from the ``llm`` config section (key from the environment)."""
    policy = RetryPolicy(retries=int(cfg.get("max_retries", 6)), backoff_s=float(cfg.get("backoff_s", 1.0)),
                         backoff_max_s=float(cfg.get("backoff_max_s", 60.0)))
    return ChatClient(model=cfg["model"], api_key=resolve_api_key(cfg.get("api_key_env"), cfg.get("base_url")),
                      base_url=cfg.get("base_url"), timeout_s=float(cfg.get("timeout_s", 60)), policy=policy,
                      stats=stats)


# ---------------------------------------------------------------------------------------------- the shard


def summarise_proposals(proposals: pd.DataFrame, cfg: dict[str, Any], prompt_path: str | Path,
                        vocab_path: str | Path | None = None, client: ChatClient | None = None) -> ShardResult:
    """Summaries, rejects and the run summary for ``proposals`` (PROPOSALS rows) with the ``llm`` config."""
    t0 = time.monotonic()
    backend = cfg.get("backend", "none")
    if backend not in BACKENDS:
        raise ValueError(f"llm.backend {backend!r} is not one of {', '.join(BACKENDS)}")
    stats = client.stats if client is not None else Stats()
    rows, rejects = [], []
    seen: set[str] = set()
    for r in proposals.to_dict("records"):
        row = {k: _clean(r.get(k)) for k in ("proposal_id", "title", "category", "abstract")}
        pid = row["proposal_id"]
        if pid in seen:
            rejects.append(_reject(Outcome(pid, reason="duplicate_proposal_id", detail="proposal id seen earlier in the shard")))
        elif not row["abstract"].strip():
            rejects.append(_reject(Outcome(pid, reason="empty_abstract", detail="no abstract text to summarise")))
        else:
            rows.append(row)
        seen.add(pid)

    model, prompt_version, batch_ids = "", "", []
    outcomes: list[Outcome] = []
    factor = 1.0
    if backend == "none":
        outcomes = [Outcome(r["proposal_id"], reason="llm_disabled", detail="llm.backend is 'none'") for r in rows]
    elif backend == "keywords":
        vocab = load_vocabulary(vocab_path)
        model, prompt_version = vocab.model, vocab.version
        for r in rows:
            try:
                outcomes.append(Outcome(r["proposal_id"], keyword_summary(vocab, r["title"], r["category"], r["abstract"])))
            except SchemaViolation as err:
                outcomes.append(Outcome(r["proposal_id"], reason=err.reason, detail=err.detail))
    else:
        prompt = load_prompt(prompt_path)
        model, prompt_version = cfg["model"], prompt.version
        params = request_params(cfg, prompt)
        cache = Cache(cfg.get("cache_dir", "results/llm-cache"))
        keys = {r["proposal_id"]: cache_key(model, prompt, params, r["title"], r["category"], r["abstract"]) for r in rows}
        known: dict[str, Outcome] = {}
        for r in rows:
            rec = cache.get(keys[r["proposal_id"]])
            if rec is not None:
                known[r["proposal_id"]] = Outcome.from_record(r["proposal_id"], rec)
        stats.add(cache_hits=len(known))
        todo = [r for r in rows if r["proposal_id"] not in known]
        log.info("%d proposals: %d from the cache, %d to ask %s", len(rows), len(known), len(todo), model)
        if todo:
            own_client = client is None
            client = client or make_client(cfg, stats)
            try:
                if backend == "openai":
                    fresh = _run_realtime(client, prompt, params, todo, cfg, stats)
                else:
                    factor = float((cfg.get("batch") or {}).get("price_factor", 0.5))
                    fresh = _run_batch(client, prompt, params, todo, cfg, Path(cache.root.parent) / "batches", stats,
                                       batch_ids)
            finally:
                if own_client:
                    client.close()
            for o in fresh:
                if o.summary or (o.content_failure and cfg.get("cache_rejects", True)):
                    cache.put(keys[o.proposal_id], o.record())
                known[o.proposal_id] = o
        outcomes = [known[r["proposal_id"]] for r in rows]

    summaries = summaries_frame([o for o in outcomes if o.summary], backend, model, prompt_version)
    rejects += [_reject(o) for o in outcomes if not o.summary]
    rej = rejects_table(rejects)
    s = stats.as_dict()
    answered = [o for o in outcomes if o.summary or o.content_failure]
    run = {
        "backend": backend, "model": model, "prompt_version": prompt_version,
        "proposals": int(len(proposals)), "summarised": int(len(summaries)), "rejected": int(len(rej)),
        "reject_reasons": rej["reason"].value_counts().to_dict() if len(rej) else {},
        "calls": s["requests"], "cache_hits": s["cache_hits"], "retries": s["retries"],
        "schema_retries": s["schema_retries"], "errors": s["errors"],
        "tokens_in": s["tokens_in"], "tokens_out": s["tokens_out"],
        # tokens of every answer used here, cached or not: what a fresh run over these abstracts costs
        "answers": len(answered), "answer_tokens_in": sum(o.tokens_in for o in answered),
        "answer_tokens_out": sum(o.tokens_out for o in answered),
        "batch_ids": [b for b in batch_ids if b], "price_factor": factor,
        "wall_s": round(time.monotonic() - t0, 3),
    }
    add_costs(run, cfg.get("prices") or {})
    return ShardResult(summaries, rej, run)


def add_costs(run: dict[str, Any], prices: dict[str, Any]) -> dict[str, Any]:
    """Fill ``cost_usd`` (this run's calls) and ``cost_per_1000_abstracts_usd`` (all answers used)."""
    model, factor = run.get("model", ""), float(run.get("price_factor", 1.0))
    if run.get("backend") not in LLM_BACKENDS:
        run.update(cost_usd=0.0, cost_per_1000_abstracts_usd=0.0, priced=True)
        return run
    this = cost_report(model, run["tokens_in"], run["tokens_out"], 1, prices, factor)
    full = cost_report(model, run["answer_tokens_in"], run["answer_tokens_out"], run["answers"], prices, factor)
    run.update(cost_usd=this["cost_usd"], cost_per_1000_abstracts_usd=full["cost_per_1000_abstracts_usd"],
               priced=this["priced"])
    return run


def summaries_frame(outcomes: list[Outcome], backend: str, model: str, prompt_version: str) -> pd.DataFrame:
    """The summaries table (sorted by proposal id)."""
    rows = sorted(outcomes, key=lambda o: o.proposal_id)
    return pd.DataFrame({
        "proposal_id": pd.Series([o.proposal_id for o in rows], dtype="string"),
        "objects_and_phenomena": [list(o.summary["objects_and_phenomena"]) for o in rows],
        "science_use_cases": [list(o.summary["science_use_cases"]) for o in rows],
        "backend": pd.Series([backend] * len(rows), dtype="string"),
        "model": pd.Series([model] * len(rows), dtype="string"),
        "prompt_version": pd.Series([prompt_version] * len(rows), dtype="string"),
    })


def _reject(o: Outcome) -> dict[str, str]:
    return {"record_type": "proposal", "record_id": o.proposal_id, "stage": STAGE, "reason": o.reason or "error",
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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_table(df, path, REJECTS, "llm rejects")


def write_run(run: dict[str, Any], path: str | Path) -> None:
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
