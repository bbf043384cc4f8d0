"""The LLM stages of the study over one shard of evaluation triplets: classify, judge + refine, repeat.

Backends: classify ``features`` (offline: :mod:`.features`), judge ``features`` or ``rules`` (offline:
:func:`.features.model_judge`, :func:`.features.rule_judge`), and ``openai``/``openai-batch`` for either (the
``llm`` client settings' server, through :mod:`skytext.llm.runner`). Each stage takes its backend and the
settings it reads as arguments; :class:`Context` holds what they share. Every triplet that enters a stage leaves it in the answers or in the
rejects with the reason and the raw answer. Answers are cached under ``llm.cache_dir/transients`` by a key
over the model, prompt version and text hash, sampling parameters, schema, the PNG of the triplet, the
few-shot set and, for the judge and refinement, the answer and critique they see -- so a rerun makes no calls.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from skytext.core.contracts import rejects_frame
from skytext.llm.cache import Cache, sha256_json
from skytext.llm.client import ChatClient, Stats
from skytext.llm.cost import estimate_cost, price_for
from skytext.llm.runner import RAW_MAX, AnswerSpec, Outcome, ask_cached
from skytext.transients import features as F
from skytext.transients import prompt as P
from skytext.transients.render import triplet_png

log = logging.getLogger(__name__)

ANSWER_COLUMNS = {"obs_id": "string", "class": "string", "explanation": "string", "interest_score": "string",
                  "backend": "string", "model": "string", "prompt_version": "string"}
REASK = "Reply again with only the JSON object the instructions ask for."
ANSWER_SPEC = AnswerSpec(P.parse_answer, REASK, "triplet", "result", "classify")
VERDICT_SPEC = AnswerSpec(P.parse_verdict, REASK, "triplet", "result", "judge")
VERDICT_COLUMNS = {"obs_id": "string", "coherence": "int64", "interest_valid": "string", "critique": "string",
                   "backend": "string", "p_real": "float64"}  # p_real: the features judge's own view (else NaN)


@dataclass
class Context:
    """What every stage of a shard needs: the render settings, the llm client settings, the prompt, the
    offline models and the few-shot examples."""

    render: dict[str, Any]  # transients.prompt: stretch, scale, marker, detail
    llm: dict[str, Any]  # the llm client settings (transients/common.smk: TRN_LLM)
    prompt: P.TPrompt
    feat_model: dict[str, Any]
    seed: int
    judge_model: Any = None  # the fitted ``features`` judge (judge.backend: features)
    examples: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    examples_sha: str = ""
    client: ChatClient | None = None
    stats: Stats = field(default_factory=Stats)

    def png(self, cube: np.ndarray) -> bytes:
        """The PNG a model sees of one triplet."""
        r = self.render
        return triplet_png(cube, r["stretch"], int(r["scale"]), bool(r["marker"]))

    @property
    def cache(self) -> Cache:
        """The answer cache of the study (``llm.cache_dir/transients``)."""
        return Cache(self.llm["cache_dir"], kind="transients")

    def params(self, schema_name: str, schema: dict, temperature: float) -> dict[str, Any]:
        """The sampling parameters and response format of one kind of request."""
        return {"temperature": temperature,
                "max_tokens": self.llm["max_tokens"], "seed": self.llm["seed"],
                "response_format": P.response_format(schema_name, schema)}

    def key(self, task: str, params: dict, **inputs: Any) -> str:
        """The cache key of one request: model, prompt version and hash, parameters, render settings, inputs."""
        return sha256_json({"task": task, "model": self.llm["model"], "prompt_version": self.prompt.version,
                            "prompt_sha": self.prompt.sha, "params": params, "render": self.render,
                            "inputs": inputs})


def make_examples(ex_rows: pd.DataFrame, ex_cubes: np.ndarray, ctx: Context) -> None:
    """Render the few-shot examples once per job (answers from their labels: train split only)."""
    ctx.examples = []
    for r, cube in zip(ex_rows.to_dict("records"), ex_cubes):
        ref_src = F.triplet_features(cube)["ref_snr"] > 5
        ctx.examples.append((ctx.png(cube), P.example_answer(r["label"], r["subtype"], ref_src)))
    ctx.examples_sha = sha256_json([[P.png_sha(p), a] for p, a in ctx.examples])


def _reject(tid: str, stage: str, o: Outcome) -> dict:
    return {"record_type": "triplet", "record_id": tid, "stage": stage, "reason": o.reason or "error",
            "detail": (o.detail.splitlines()[0][:300] if o.detail else ""), "raw": o.raw[:RAW_MAX]}


def rejects_table(rows: list[dict]) -> pd.DataFrame:
    """The rejects contract's frame plus the raw answer of each reject."""
    df = rejects_frame(rows)
    df["raw"] = pd.Series([r.get("raw", "") for r in rows], dtype="string")
    return df


def answers_frame(rows: list[dict]) -> pd.DataFrame:
    """Answers with the columns and types of :data:`ANSWER_COLUMNS`, sorted by id."""
    return pd.DataFrame(rows, columns=list(ANSWER_COLUMNS)).astype(ANSWER_COLUMNS).sort_values("obs_id").reset_index(drop=True)


# ------------------------------------------------------------------------------------------ classify


def _llm_classify(ids: list[str], cubes: np.ndarray, ctx: Context, backend: str, tag: str,
                  temperature: float | None = None, run: int | None = None) -> dict[str, Outcome]:
    params = ctx.params("transient_classification", P.ANSWER_SCHEMA,
                        ctx.llm["temperature"] if temperature is None else temperature)
    reqs = {}
    for tid, cube in zip(ids, cubes):
        png = ctx.png(cube)
        msgs = P.classify_messages(ctx.prompt, ctx.examples, tid, png, ctx.render["detail"])
        key = ctx.key("classify", params, png=P.png_sha(png), examples=ctx.examples_sha, run=run)
        reqs[tid] = (key, msgs)
    out, _ = ask_cached(reqs, params, ctx.llm, replace(ANSWER_SPEC, tag=tag), ctx.cache, ctx.stats, ctx.client,
                        backend)
    return out


def classify(ids: list[str], cubes: np.ndarray, ctx: Context, backend: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(answers, rejects) of one shard with ``backend`` (``classify.backend``)."""
    if backend == "features":
        outs = {t: Outcome(t, {k: v for k, v in F.answer(ctx.feat_model, F.triplet_features(c), 0.0).items()
                              if k != "logit"})
                for t, c in zip(ids, cubes)}
        model, version = "features-logreg", "features-v1"
    else:
        outs = _llm_classify(ids, cubes, ctx, backend, "classify")
        model, version = ctx.llm["model"], ctx.prompt.version
    good = [{"obs_id": t, **outs[t].result, "backend": backend, "model": model, "prompt_version": version}
            for t in ids if outs[t].result is not None]
    bad = [_reject(t, "transients_classify", outs[t]) for t in ids if outs[t].result is None]
    return answers_frame(good), rejects_table(bad)


# ------------------------------------------------------------------------------------------ judge + refine


def _offline_verdict(backend: str, cube: np.ndarray, answer: dict[str, Any], ctx: Context) -> dict[str, Any]:
    f = F.triplet_features(cube)
    if backend == "features":
        return F.model_judge(f, answer, F.judge_p_real(ctx.judge_model, f))
    return {k: v for k, v in F.rule_judge(f, answer).items() if k != "evidence"} | {"p_real": float("nan")}


def judge(answers: pd.DataFrame, cubes: dict[str, np.ndarray], ctx: Context,
          backend: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(verdicts, rejects) with ``backend`` (``judge.backend``): the judge sees each triplet and its answer,
    never the label."""
    recs = answers.to_dict("records")
    if backend in ("rules", "features"):
        good = [{"obs_id": r["obs_id"], **_offline_verdict(backend, cubes[r["obs_id"]], r, ctx), "backend": backend}
                for r in recs]
        bad: list[dict] = []
    else:
        params = ctx.params("transient_verdict", P.JUDGE_SCHEMA, ctx.llm["temperature"])
        reqs = {}
        for r in recs:
            png = ctx.png(cubes[r["obs_id"]])
            shown = {k: r[k] for k in ("class", "explanation", "interest_score")}
            reqs[r["obs_id"]] = (ctx.key("judge", params, png=P.png_sha(png), answer=shown),
                                 P.judge_messages(ctx.prompt, r["obs_id"], png, shown, ctx.render["detail"]))
        outs, _ = ask_cached(reqs, params, ctx.llm, VERDICT_SPEC, ctx.cache, ctx.stats, ctx.client, backend)
        good = [{"obs_id": t, **o.result, "backend": backend, "p_real": float("nan")} for t, o in outs.items()
                if o.result is not None]
        bad = [_reject(t, "transients_judge", o) for t, o in outs.items() if o.result is None]
    df = pd.DataFrame(good, columns=list(VERDICT_COLUMNS)).astype(VERDICT_COLUMNS)
    return df.sort_values("obs_id").reset_index(drop=True), rejects_table(bad)


def refine(answers: pd.DataFrame, verdicts: pd.DataFrame, cubes: dict[str, np.ndarray], ctx: Context,
           backend: str, refine_below: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answers after one refinement round with ``backend`` (``classify.backend``): triplets whose coherence is
    below ``refine_below`` are asked again with the critique; the rest keep their answer. Columns: the
    answer's, plus ``refined`` and ``changed`` and ``first_class``. A refinement that fails keeps the first
    answer (reject logged)."""
    verdict = verdicts.set_index("obs_id")
    low = [t for t in answers["obs_id"] if t in verdict.index and int(verdict.loc[t, "coherence"]) < float(refine_below)]
    by_id = {r["obs_id"]: r for r in answers.to_dict("records")}
    new: dict[str, dict] = {}
    bad: list[dict] = []
    if backend == "features":
        for t in low:
            v = {"critique": str(verdict.loc[t, "critique"]), "p_real": float(verdict.loc[t, "p_real"])}
            ans = F.refine_offline(ctx.feat_model, F.triplet_features(cubes[t]), v)
            new[t] = {k: ans[k] for k in ("class", "explanation", "interest_score")}
    elif low:
        params = ctx.params("transient_classification", P.ANSWER_SCHEMA, ctx.llm["temperature"])
        reqs = {}
        for t in low:
            png = ctx.png(cubes[t])
            first = P.classify_messages(ctx.prompt, ctx.examples, t, png, ctx.render["detail"])
            shown = {k: by_id[t][k] for k in ("class", "explanation", "interest_score")}
            crit = str(verdict.loc[t, "critique"])
            reqs[t] = (ctx.key("refine", params, png=P.png_sha(png), examples=ctx.examples_sha, answer=shown,
                               critique=crit), P.refine_messages(first, shown, crit, ctx.prompt))
        outs, _ = ask_cached(reqs, params, ctx.llm, replace(ANSWER_SPEC, tag="refine"), ctx.cache, ctx.stats,
                             ctx.client, backend)
        for t, o in outs.items():
            if o.result is not None:
                new[t] = o.result
            else:
                bad.append(_reject(t, "transients_refine", o))
    rows = []
    for t, r in by_id.items():
        out = dict(r)
        out["first_class"] = r["class"]
        if t in new:
            out.update(new[t])
        out["refined"] = t in new
        out["changed"] = out["class"] != r["class"]
        rows.append(out)
    cols = list(ANSWER_COLUMNS) + ["first_class", "refined", "changed"]
    df = pd.DataFrame(rows, columns=cols).astype({**ANSWER_COLUMNS, "first_class": "string", "refined": bool,
                                                 "changed": bool})
    return df.sort_values("obs_id").reset_index(drop=True), rejects_table(bad)


# ------------------------------------------------------------------------------------------ repeat


def repeat(ids: list[str], cubes: np.ndarray, ctx: Context, backend: str, runs: int,
           temperature: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, rejects): ``runs`` classifications of each triplet at ``temperature`` with ``backend``, one
    column per run (``Real``/``Bogus``/``reject``); each reject is listed with its reason, its id
    ``<obs_id>#run<k>``."""
    table: dict[str, list] = {"obs_id": list(ids)}
    bad: list[dict] = []
    for run in range(int(runs)):
        if backend == "features":
            rng = np.random.default_rng([ctx.seed, run])
            col = [F.answer(ctx.feat_model, F.triplet_features(c), float(temperature), rng)["class"] for c in cubes]
        else:
            outs = _llm_classify(ids, cubes, ctx, backend, f"repeat-{run}", float(temperature), run)
            col = [outs[t].result["class"] if outs[t].result is not None else "reject" for t in ids]
            bad += [_reject(f"{t}#run{run}", "transients_repeat", outs[t]) for t in ids if outs[t].result is None]
        table[f"run_{run}"] = col
    return pd.DataFrame(table), rejects_table(bad)


# ------------------------------------------------------------------------------------------ runs and costs


def run_summary(stage: str, backend: str, n_in: int, n_out: int, rejects: pd.DataFrame, ctx: Context,
                t0: float) -> dict[str, Any]:
    """A stage's ``run.json``: counts, reject reasons, calls, cache hits, retries, tokens and wall time."""
    s = ctx.stats.as_dict()
    return {"stage": stage, "backend": backend, "model": ctx.llm["model"] if backend.startswith("openai") else backend,
            "triplets": int(n_in), "answered": int(n_out), "rejected": int(len(rejects)),
            "reject_reasons": rejects["reason"].value_counts().to_dict() if len(rejects) else {},
            "calls": s["requests"], "cache_hits": s["cache_hits"], "retries": s["retries"],
            "schema_retries": s["schema_retries"], "errors": s["errors"], "tokens_in": s["tokens_in"],
            "tokens_out": s["tokens_out"], "wall_s": round(time.monotonic() - t0, 3)}


def _image_tokens(model: str, image_tokens: dict[str, int], default_image_tokens: int) -> int:
    hit = price_for(model, {k: {"n": v} for k, v in image_tokens.items()})
    return int(hit["n"]) if hit else int(default_image_tokens)


def cost_per_1000(prompt: P.TPrompt, n_examples: int, cost_cfg: dict[str, Any], prices: dict[str, Any],
                  models: list[str], refine_fraction: float, example_answer_chars: int = 200) -> dict[str, Any]:
    """Estimated USD per 1,000 triplets per model: classify (system + ``n_examples`` example images and
    answers + the candidate image) + judge (its prompt, the answer, the image) + the refined fraction again;
    text at 4 characters per token, images at ``cost.image_tokens``. ``cost_cfg`` is the ``transients.cost``
    section (every key of it is read)."""
    out_tok = int(cost_cfg["output_tokens"])
    text_cls = (len(prompt.system) + n_examples * (example_answer_chars + 30) + 80) / 4
    text_judge = (len(prompt.texts["judge"]) + 4 * out_tok + 80) / 4
    res = {}
    for model in dict.fromkeys(models):
        img = _image_tokens(model, cost_cfg["image_tokens"], cost_cfg["default_image_tokens"])
        t_cls = text_cls + (n_examples + 1) * img
        t_judge = text_judge + img
        t_ref = t_cls + out_tok + len(prompt.texts["refine"]) / 4 + 60
        tin = 1000 * (t_cls + t_judge + refine_fraction * t_ref)
        tout = 1000 * (out_tok * (2 + refine_fraction))
        usd = estimate_cost(model, int(tin), int(tout), prices)
        res[model] = {"usd_per_1000_triplets": None if usd is None else round(usd, 4),
                      "input_tokens_per_triplet": int(math.ceil(tin / 1000)),
                      "image_tokens_per_image": img, "images_per_triplet": n_examples + 2 + refine_fraction * (n_examples + 1),
                      "priced": usd is not None}
    return res
