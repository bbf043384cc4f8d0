"""One function per rule of the transients study, called by the entry scripts
``workflow/scripts/transients_<rule>.py`` with plain values (paths, numbers, small dicts of config leaves):
each reads its inputs, runs the study's logic and writes its outputs. Heavy modules (the OpenAI client behind
:mod:`.prompt`/:mod:`.stages`, matplotlib behind :mod:`.report`, torch behind :mod:`.cnn`) are imported by
the jobs that use them, so the other jobs start fast."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skytext.core.sharding import in_shard
from skytext.transients import features as F
from skytext.transients.data import gather, load_cubes, write_json

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ acquisition


def run_demo(triplets: str, meta: str, rejects: str, demo: dict[str, Any], seed: int, shard: int,
             shards: int) -> None:
    """Rule transients_demo: draw one acquisition shard of demo triplets (``demo``: ``transients.demo``)."""
    from skytext.sources.triplets_demo import demo_shard, write_shard

    cubes, table = demo_shard(demo, int(seed), int(shard), int(shards), triplets)
    write_shard(cubes, table, [], triplets, meta, rejects)
    log.info("shard %s: %d triplets", shard, len(table))


def run_meerlicht_fetch(fetch_json: str, meerlicht: dict[str, Any]) -> None:
    """Rule transients_meerlicht_fetch: both files of the Zenodo record, once (``meerlicht``: the fetch keys
    of ``transients.meerlicht``); writes ``fetch.json``."""
    from skytext.sources.meerlicht import fetch

    got = fetch(meerlicht)
    write_json(got, fetch_json)
    log.info("MeerLICHT files: %s", {k: (v["path"], v["bytes"], v["sha256"]) for k, v in got.items()})


def run_meerlicht(fetch_json: str, triplets: str, meta: str, rejects: str, summary: str,
                  meerlicht: dict[str, Any], shard: int, shards: int) -> None:
    """Rule transients_meerlicht: one validated acquisition shard of the fetched files (``meerlicht``: the
    validation keys of ``transients.meerlicht``)."""
    from skytext.sources.meerlicht import write_meerlicht_shard

    s = write_meerlicht_shard(fetch_json, meerlicht, int(shard), int(shards), triplets, meta, rejects, summary)
    log.info("shard %s: %d triplets, %d rejected; %s", shard, s["triplets"], s["rejected"], s)


def run_dataset(meta: list[str], rejects: list[str], out_triplets: str, out_rejects: str, out_summary: str,
                split: dict[str, float], seed: int, size: int) -> None:
    """Rule transients_dataset: the shards gathered, every triplet checked, split by a seeded hash."""
    df, rej, summary = gather(list(meta), list(rejects), split, int(seed), int(size))
    df.to_parquet(out_triplets, index=False)
    rej.to_parquet(out_rejects, index=False)
    write_json(summary, out_summary)
    log.info("%d triplets, %d rejected: %s", len(df), len(rej), summary["reject_reasons"])


# ------------------------------------------------------------------------------------------ features, examples


def eval_rows(triplets: pd.DataFrame, eval_split: str, max_triplets: int | None, seed: int) -> pd.DataFrame:
    """The evaluation split, capped at ``max_triplets`` (stratified, seeded; all when ``None``)."""
    from skytext.transients import prompt as P

    return P.stratified_subset(triplets[triplets["split"] == eval_split], max_triplets, seed)


def run_features(triplets: str, model: str, predictions: str, train_table: str, eval_split: str,
                 seed: int) -> None:
    """Rule transients_features: the statistics classifier fitted on train (``model.json``), its answers on
    the evaluation split, and the train split's statistics (what the ``features`` judge is fitted on)."""
    t = pd.read_parquet(triplets)
    train = t[t["split"] == "train"]
    x_train = F.feature_matrix(load_cubes(train))
    fitted = F.fit(x_train, list(train["label"]), int(seed))
    Path(model).write_text(F.dumps(fitted), encoding="utf-8")
    F.train_table(list(train["obs_id"]), list(train["label"]), x_train).to_parquet(train_table, index=False)
    rows = t[t["split"] == eval_split]
    ans = [F.answer(fitted, dict(zip(F.NAMES, x)), 0.0) for x in F.feature_matrix(load_cubes(rows))]
    pd.DataFrame({"obs_id": rows["obs_id"].to_numpy(), "class": [a["class"] for a in ans],
                  "interest_score": [a["interest_score"] for a in ans], "logit": [a["logit"] for a in ans]}
                 ).to_parquet(predictions, index=False)


def run_examples(triplets: str, examples: str, n_examples: int, seed: int) -> None:
    """Rule transients_examples: the few-shot examples, from the train split only."""
    from skytext.transients import prompt as P

    P.select_examples(pd.read_parquet(triplets), int(n_examples), int(seed)).to_parquet(examples, index=False)


# ------------------------------------------------------------------------------------------ the LLM stages


def _context(prompt_manifest: str, model: str, examples: str, render: dict[str, Any], llm: dict[str, Any],
             seed: int, judge_table: str | None = None):
    from skytext.transients import prompt as P
    from skytext.transients import stages as S

    judge_model = F.fit_judge(pd.read_parquet(judge_table), int(seed)) if judge_table else None
    ctx = S.Context(render, llm, P.transients_prompt(prompt_manifest), json.loads(Path(model).read_text()),
                    seed=int(seed), judge_model=judge_model)
    if render:  # a model will be asked (offline backends get no render settings): show it the examples
        ex = pd.read_parquet(examples)
        S.make_examples(ex, load_cubes(ex), ctx)
    return ctx


def run_classify(triplets: str, examples: str, model: str, prompt_manifest: str, answers: str, rejects: str,
                 run: str, backend: str, max_triplets: int | None, eval_split: str, render: dict[str, Any],
                 llm: dict[str, Any], seed: int, shard: int, shards: int) -> None:
    """Rule transients_classify: one shard of the evaluation triplets classified with ``backend``."""
    from skytext.transients import stages as S

    t0 = time.monotonic()
    ctx = _context(prompt_manifest, model, examples, render, llm, seed)
    rows = eval_rows(pd.read_parquet(triplets), eval_split, max_triplets, int(seed))
    rows = rows[in_shard(rows["obs_id"], int(shard), int(shards))].reset_index(drop=True)
    got, rej = S.classify(list(rows["obs_id"]), load_cubes(rows), ctx, backend)
    got.to_parquet(answers, index=False)
    rej.to_parquet(rejects, index=False)
    write_json(S.run_summary("classify", backend, len(rows), len(got), rej, ctx, t0), run)


def run_judge(triplets: str, examples: str, model: str, judge_table: str, prompt_manifest: str, answers: str,
              verdicts: str, refined: str, rejects: str, run: str, judge_backend: str, classify_backend: str,
              refine_below: float, render: dict[str, Any], llm: dict[str, Any], seed: int) -> None:
    """Rule transients_judge: one shard's answers judged with ``judge_backend``, and those with coherence
    below ``refine_below`` asked again with the critique (``classify_backend``)."""
    from skytext.transients import stages as S

    t0 = time.monotonic()
    ctx = _context(prompt_manifest, model, examples, render, llm, seed,
                   judge_table if judge_backend == "features" else None)
    first = pd.read_parquet(answers)
    rows = pd.read_parquet(triplets).set_index("obs_id").loc[list(first["obs_id"])].reset_index()
    cubes = dict(zip(rows["obs_id"], load_cubes(rows)))
    ver, rej_j = S.judge(first, cubes, ctx, judge_backend)
    ref, rej_r = S.refine(first, ver, cubes, ctx, classify_backend, float(refine_below))
    ver.to_parquet(verdicts, index=False)
    ref.to_parquet(refined, index=False)
    rej = pd.concat([rej_j, rej_r], ignore_index=True)
    rej.to_parquet(rejects, index=False)
    write_json(S.run_summary("judge+refine", f"{judge_backend}+{classify_backend}", len(first), len(ver), rej,
                             ctx, t0), run)


def run_repeat(triplets: str, examples: str, model: str, prompt_manifest: str, table: str, rejects: str,
               run: str, backend: str, max_triplets: int | None, eval_split: str, runs: int, n_triplets: int,
               temperature: float, render: dict[str, Any], llm: dict[str, Any], seed: int) -> None:
    """Rule transients_repeat: ``runs`` classifications of ``n_triplets`` evaluation triplets at
    ``temperature`` (repeatability)."""
    from skytext.transients import prompt as P
    from skytext.transients import stages as S

    t0 = time.monotonic()
    ctx = _context(prompt_manifest, model, examples, render, llm, seed)
    rows = P.stratified_subset(eval_rows(pd.read_parquet(triplets), eval_split, max_triplets, int(seed)),
                               int(n_triplets), int(seed) + 1)
    got, rej = S.repeat(list(rows["obs_id"]), load_cubes(rows), ctx, backend, int(runs), float(temperature))
    got.to_parquet(table, index=False)
    rej.to_parquet(rejects, index=False)
    write_json(S.run_summary("repeat", backend, len(rows), len(rows), rej, ctx, t0), run)


# ------------------------------------------------------------------------------------------ baselines


def run_cnn(triplets: str, predictions: str, embeddings: str, ids: str, curve: str, weights: str,
            cnn: dict[str, Any], eval_split: str, seed: int, threads: int) -> None:
    """Rule transients_cnn: the CNN trained on train (epoch chosen on val), its predictions on the evaluation
    split, the L2-normalised embeddings of every triplet beside their ids, the learning curve and the weights."""
    import torch

    from skytext.core.smk import threads_for_torch
    from skytext.transients import cnn as C

    threads_for_torch(int(threads))
    t = pd.read_parquet(triplets)
    x = C.preprocess(load_cubes(t), int(cnn["crop"]))
    y = (t["label"] == "Real").to_numpy().astype(int)
    tr, va = (t["split"] == "train").to_numpy(), (t["split"] == "val").to_numpy()
    model, history = C.train(x[tr], y[tr], x[va], y[va], cnn, int(seed))
    p, emb = C.predict(model, x, cnn)
    ev = (t["split"] == eval_split).to_numpy()
    pd.DataFrame({"obs_id": t.loc[ev, "obs_id"].to_numpy(), "class": np.where(p[ev] > 0.5, "Real", "Bogus"),
                  "p_real": p[ev]}).to_parquet(predictions, index=False)
    np.save(embeddings, emb)
    t[["obs_id", "split", "label"]].to_parquet(ids, index=False)
    pd.DataFrame(history).to_csv(curve, index=False)
    torch.save(model.state_dict(), weights)


def run_knn(embeddings: str, ids: str, predictions: str, k: int, eval_split: str) -> None:
    """Rule transients_knn: a ``k``-nearest-neighbour vote of the train split's CNN embeddings for every
    triplet of the evaluation split."""
    from skytext.transients import cnn as C

    emb, t = np.load(embeddings), pd.read_parquet(ids)
    y = (t["label"] == "Real").to_numpy().astype(int)
    tr, ev = (t["split"] == "train").to_numpy(), (t["split"] == eval_split).to_numpy()
    pk = C.knn_predict(emb[tr], y[tr], emb[ev], int(k))
    pd.DataFrame({"obs_id": t.loc[ev, "obs_id"].to_numpy(), "class": np.where(pk >= 0.5, "Real", "Bogus"),
                  "p_real": pk}).to_parquet(predictions, index=False)


# ------------------------------------------------------------------------------------------ evaluation


def _concat(paths: list[str]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _runs(paths: list[str]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text()) for p in paths]


def _reasons(rej: pd.DataFrame) -> dict[str, int]:
    return rej["reason"].value_counts().to_dict() if len(rej) else {}


def _score(preds: dict[str, tuple[pd.DataFrame, int]], truth: pd.DataFrame, verdicts: pd.DataFrame,
           classify_backend: str, n_boot: int, seed: int, results: list[str]) -> dict[str, dict]:
    """Every method's ``classification.json`` (written to the path of ``results`` in its method's folder)."""
    from skytext.transients import evaluate as E

    common = E.common_ids({k: df for k, (df, _) in preds.items()})
    out = {}
    for name, (df, n_rej) in preds.items():
        r = E.method_result(name, df, truth, int(n_boot), int(seed), n_rej, common,
                            verdicts if name == "llm" else None)
        r["backend"] = classify_backend if name.startswith("llm") else name
        write_json(r, next(p for p in results if Path(p).parent.name == name))
        out[name] = r
    return out


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    ref = summary["refinement"]
    return {"refinement": f"{ref['changed']} changed ({ref['wrong_to_right']} wrong->right, "
                          f"{ref['right_to_wrong']} right->wrong) of {ref['asked_again']} asked again",
            "judge AUROC (low coherence detects errors)":
                (summary["judge"] or {}).get("auroc_low_coherence_detects_errors"),
            "repeatability": summary["repeatability"],
            "cost per 1,000 triplets (USD)": {m: c["usd_per_1000_triplets"]
                                              for m, c in summary["cost_per_1000_triplets"].items()}}


def run_evaluate(triplets: str, prompt_manifest: str, answers: list[str], classify_rejects: list[str],
                 classify_runs: list[str], verdicts: list[str], refined: list[str], judge_rejects: list[str],
                 judge_runs: list[str], repeat: str, repeat_rejects: str, repeat_run: str, features: str, cnn: str, knn: str,
                 results: list[str], out_summary: str, out_table: str, out_html: str, out_confusion: str,
                 out_gallery: str, source: str, eval_cfg: dict[str, Any], backends: dict[str, str],
                 refine_below: float, repeat_temperature: float, n_examples: int, render: dict[str, Any],
                 cost: dict[str, Any], llm_model: str, prices: dict[str, Any], seed: int) -> None:
    """Rule transients_evaluate: ``classification.json`` per method, ``summary.json``, the comparison table
    (CSV and HTML), the confusion matrices and the gallery. ``eval_cfg``: ``transients.eval``; ``backends``:
    ``classify`` and ``judge``; ``cost``: ``transients.cost``; ``prices``: ``llm.prices``."""
    from skytext.transients import evaluate as E
    from skytext.transients import prompt as P
    from skytext.transients import report as R
    from skytext.transients import stages as S

    truth = pd.read_parquet(triplets)
    first, ver, ref = _concat(answers), _concat(verdicts), _concat(refined)
    rej_c, rej_j = _concat(classify_rejects), _concat(judge_rejects)
    preds = {"llm": (first, len(rej_c)), "llm-refined": (ref, len(rej_c)), "features": (pd.read_parquet(features), 0),
             "cnn": (pd.read_parquet(cnn), 0), "knn": (pd.read_parquet(knn), 0)}
    scored = _score(preds, truth, ver, backends["classify"], eval_cfg["n_boot"], seed, results)
    runs = {"classify": _runs(classify_runs), "judge": _runs(judge_runs), "repeat": _runs([repeat_run])}
    refinement = E.refinement_result(ref, ver, truth, refine_below)
    summary = {
        "source": source, "split": eval_cfg["split"], "classify_backend": backends["classify"],
        "judge_backend": backends["judge"], "refinement": refinement, "judge": scored["llm"].get("judge"),
        "repeatability": E.repeat_result(pd.read_parquet(repeat), truth, float(repeat_temperature)),
        "calls": {k: int(sum(r["calls"] for r in v)) for k, v in runs.items()},
        "tokens_in": int(sum(r["tokens_in"] for v in runs.values() for r in v)),
        "tokens_out": int(sum(r["tokens_out"] for v in runs.values() for r in v)),
        "rejects": {"classify": _reasons(rej_c), "judge_refine": _reasons(rej_j),
                    "repeat": _reasons(pd.read_parquet(repeat_rejects))},
        "cost_per_1000_triplets": S.cost_per_1000(P.transients_prompt(prompt_manifest), int(n_examples), cost, prices,
                                                  [*cost["models"], *([llm_model] if llm_model else [])],
                                                  refinement["asked_again"] / max(1, len(ref))),
        "accuracy": {k: r["accuracy"] for k, r in scored.items()},
        "accuracy_common": {"n": next(iter(scored.values()))["common"]["n"] if scored else 0,
                            **{k: r["common"]["accuracy"] for k, r in scored.items()}},
    }
    write_json(summary, out_summary)
    table = E.comparison_table(scored)
    table.to_csv(out_table, index=False)
    Path(out_html).write_text(E.comparison_html(table, _headline(summary)), encoding="utf-8")
    R.confusion_figure(scored, out_confusion)
    rows = R.gallery_rows(ref if len(ref) else first, truth, ver, int(eval_cfg["gallery"]))
    R.gallery(rows, load_cubes(rows), out_gallery, render["stretch"], int(render["scale"]), bool(render["marker"]))
    for name, r in scored.items():
        log.info("%s: accuracy %s %s (n=%d; common subset %s, n=%d)", name, r["accuracy"], r["accuracy_ci"], r["n"],
                 r["common"]["accuracy"], r["common"]["n"])
    log.info("cost per 1000 triplets: %s", summary["cost_per_1000_triplets"])
