"""One function per rule of the transients study (the entry scripts in ``workflow/scripts/transients_*.py``
only hand Snakemake's inputs, outputs and params over). Heavy modules (the OpenAI client behind
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


def demo(out, params) -> None:
    from skytext.sources.triplets_demo import demo_shard, write_shard

    cubes, meta = demo_shard(params.demo, int(params.seed), int(params.shard), int(params.shards), out.triplets)
    write_shard(cubes, meta, [], out.triplets, out.meta, out.rejects)
    log.info("shard %s: %d triplets", params.shard, len(meta))


def meerlicht_fetch(out, params) -> None:
    from skytext.sources.meerlicht import fetch

    got = fetch(params.mcfg)
    write_json(got, out.fetch)
    log.info("MeerLICHT files: %s", {k: (v["path"], v["bytes"], v["sha256"]) for k, v in got.items()})


def meerlicht(inp, out, params) -> None:
    from skytext.sources.meerlicht import write_meerlicht_shard

    s = write_meerlicht_shard(inp.fetch, params.mcfg, int(params.shard), int(params.shards), out.triplets,
                              out.meta, out.rejects, out.summary)
    log.info("shard %s: %d triplets, %d rejected; %s", params.shard, s["triplets"], s["rejected"], s)


def dataset(inp, out, params) -> None:
    df, rej, summary = gather(list(inp.meta), list(inp.rejects), params.split, int(params.seed), params.size)
    df.to_parquet(out.triplets, index=False)
    rej.to_parquet(out.rejects, index=False)
    write_json(summary, out.summary)
    log.info("%d triplets, %d rejected: %s", len(df), len(rej), summary["reject_reasons"])


def eval_rows(triplets: pd.DataFrame, tcfg: dict, seed: int) -> pd.DataFrame:
    """The evaluation split, capped at ``classify.max_triplets`` (stratified, seeded)."""
    from skytext.transients import prompt as P

    rows = triplets[triplets["split"] == tcfg["eval"]["split"]]
    return P.stratified_subset(rows, tcfg["classify"]["max_triplets"], seed)


def features(inp, out, params) -> None:
    t = pd.read_parquet(inp.triplets)
    train = t[t["split"] == "train"]
    model = F.fit(F.feature_matrix(load_cubes(train)), list(train["label"]), int(params.seed))
    Path(out.model).write_text(F.dumps(model), encoding="utf-8")
    rows = t[t["split"] == params.tcfg["eval"]["split"]]
    ans = [F.answer(model, dict(zip(F.NAMES, x))) for x in F.feature_matrix(load_cubes(rows))]
    pd.DataFrame({"obs_id": rows["obs_id"].to_numpy(), "class": [a["class"] for a in ans],
                  "interest_score": [a["interest_score"] for a in ans], "logit": [a["logit"] for a in ans]}
                 ).to_parquet(out.predictions, index=False)


def examples(inp, out, params) -> None:
    from skytext.transients import prompt as P

    t = pd.read_parquet(inp.triplets)
    ex = P.select_examples(t, int(params.tcfg["prompt"]["n_examples"]), int(params.seed))
    ex.to_parquet(out.examples, index=False)


def _context(inp, params):
    from skytext.transients import prompt as P
    from skytext.transients import stages as S

    ctx = S.Context(params.tcfg, params.llm, P.load_prompt(inp.prompt[0]), json.loads(Path(inp.model).read_text()),
                    seed=int(params.seed))
    ex = pd.read_parquet(inp.examples)
    S.make_examples(ex, load_cubes(ex), ctx)
    return ctx


def _shard_rows(inp, params) -> pd.DataFrame:
    rows = eval_rows(pd.read_parquet(inp.triplets), params.tcfg, int(params.seed))
    return rows[in_shard(rows["obs_id"], int(params.lshard), int(params.lshards))].reset_index(drop=True)


def classify(inp, out, params) -> None:
    from skytext.transients import stages as S

    t0 = time.monotonic()
    ctx = _context(inp, params)
    rows = _shard_rows(inp, params)
    answers, rejects = S.classify(list(rows["obs_id"]), load_cubes(rows), ctx)
    answers.to_parquet(out.answers, index=False)
    rejects.to_parquet(out.rejects, index=False)
    write_json(S.run_summary("classify", params.tcfg["classify"]["backend"], len(rows), len(answers), rejects, ctx, t0),
               out.run)


def judge(inp, out, params) -> None:
    from skytext.transients import stages as S

    t0 = time.monotonic()
    ctx = _context(inp, params)
    answers = pd.read_parquet(inp.answers)
    rows = pd.read_parquet(inp.triplets).set_index("obs_id").loc[list(answers["obs_id"])].reset_index()
    cubes = dict(zip(rows["obs_id"], load_cubes(rows)))
    verdicts, rej_j = S.judge(answers, cubes, ctx)
    refined, rej_r = S.refine(answers, verdicts, cubes, ctx)
    verdicts.to_parquet(out.verdicts, index=False)
    refined.to_parquet(out.refined, index=False)
    rejects = pd.concat([rej_j, rej_r], ignore_index=True)
    rejects.to_parquet(out.rejects, index=False)
    backend = f"{params.tcfg['judge']['backend']}+{params.tcfg['classify']['backend']}"
    write_json(S.run_summary("judge+refine", backend, len(answers), len(verdicts), rejects, ctx, t0), out.run)


def repeat(inp, out, params) -> None:
    from skytext.transients import prompt as P
    from skytext.transients import stages as S

    t0 = time.monotonic()
    ctx = _context(inp, params)
    rows = P.stratified_subset(eval_rows(pd.read_parquet(inp.triplets), params.tcfg, int(params.seed)),
                               int(params.tcfg["repeat"]["n_triplets"]), int(params.seed) + 1)
    table = S.repeat(list(rows["obs_id"]), load_cubes(rows), ctx)
    table.to_parquet(out.table, index=False)
    write_json(S.run_summary("repeat", params.tcfg["classify"]["backend"], len(rows), len(rows),
                             S.rejects_table([]), ctx, t0), out.run)


def cnn(inp, out, params, threads: int) -> None:
    from skytext.core.smk import threads_for_torch
    from skytext.transients import cnn as C

    threads_for_torch(threads)
    cfg, seed = params.tcfg["cnn"], int(params.seed)
    t = pd.read_parquet(inp.triplets)
    x = C.preprocess(load_cubes(t), int(cfg["crop"]))
    y = (t["label"] == "Real").to_numpy().astype(int)
    tr, va = (t["split"] == "train").to_numpy(), (t["split"] == "val").to_numpy()
    model, curve = C.train(x[tr], y[tr], x[va], y[va], cfg, seed)
    p, emb = C.predict(model, x, cfg)
    ev = (t["split"] == params.tcfg["eval"]["split"]).to_numpy()
    pd.DataFrame({"obs_id": t.loc[ev, "obs_id"].to_numpy(), "class": np.where(p[ev] > 0.5, "Real", "Bogus"),
                  "p_real": p[ev]}).to_parquet(out.cnn, index=False)
    pk = C.knn_predict(emb[tr], y[tr], emb[ev], int(params.tcfg["knn"]["k"]))
    pd.DataFrame({"obs_id": t.loc[ev, "obs_id"].to_numpy(), "class": np.where(pk >= 0.5, "Real", "Bogus"),
                  "p_real": pk}).to_parquet(out.knn, index=False)
    np.save(out.embeddings, emb)
    t[["obs_id", "split", "label"]].to_parquet(out.ids, index=False)
    pd.DataFrame(curve).to_csv(out.curve, index=False)
    import torch

    torch.save(model.state_dict(), out.weights)


def _concat(paths: list[str]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _runs(paths: list[str]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text()) for p in paths]


def evaluate(inp, out, params) -> None:
    from skytext.transients import evaluate as E
    from skytext.transients import prompt as P
    from skytext.transients import report as R
    from skytext.transients import stages as S

    tcfg, seed, nb = params.tcfg, int(params.seed), int(params.tcfg["eval"]["n_boot"])
    truth = pd.read_parquet(inp.triplets)
    answers, verdicts, refined = _concat(inp.answers), _concat(inp.verdicts), _concat(inp.refined)
    rej_c, rej_j = _concat(inp.classify_rejects), _concat(inp.judge_rejects)
    preds = {"llm": (answers, len(rej_c)), "llm-refined": (refined, len(rej_c)),
             "features": (pd.read_parquet(inp.features), 0), "cnn": (pd.read_parquet(inp.cnn), 0),
             "knn": (pd.read_parquet(inp.knn), 0)}
    results = {}
    for name, (df, n_rej) in preds.items():
        results[name] = E.method_result(name, df, truth, nb, seed, n_rej, verdicts if name == "llm" else None)
        results[name]["backend"] = (tcfg["classify"]["backend"] if name.startswith("llm") else name)
        write_json(results[name], Path(params.results_dir) / name / "classification.json")
    runs = {"classify": _runs(inp.classify_runs), "judge": _runs(inp.judge_runs), "repeat": _runs([inp.repeat_run])}
    calls = {k: int(sum(r["calls"] for r in v)) for k, v in runs.items()}
    price_models = list(tcfg["cost"]["models"]) + [params.llm["model"]]
    refine = E.refinement_result(refined, verdicts, truth, int(tcfg["judge"]["refine_below"]))
    frac = refine["asked_again"] / max(1, len(refined))
    summary = {
        "source": tcfg["source"], "split": tcfg["eval"]["split"], "classify_backend": tcfg["classify"]["backend"],
        "judge_backend": tcfg["judge"]["backend"], "refinement": refine,
        "judge": results["llm"].get("judge"),
        "repeatability": E.repeat_result(pd.read_parquet(inp.repeat), truth, float(tcfg["repeat"]["temperature"])),
        "calls": calls, "tokens_in": int(sum(r["tokens_in"] for v in runs.values() for r in v)),
        "tokens_out": int(sum(r["tokens_out"] for v in runs.values() for r in v)),
        "rejects": {"classify": rej_c["reason"].value_counts().to_dict() if len(rej_c) else {},
                    "judge_refine": rej_j["reason"].value_counts().to_dict() if len(rej_j) else {}},
        "cost_per_1000_triplets": S.cost_per_1000(P.load_prompt(inp.prompt[0]), int(tcfg["prompt"]["n_examples"]),
                                                  tcfg["cost"], params.llm["prices"], price_models, frac),
        "accuracy": {k: r["accuracy"] for k, r in results.items()},
    }
    write_json(summary, out.summary)
    table = E.comparison_table(results)
    table.to_csv(out.table, index=False)
    extra = {"refinement": f"{refine['changed']} changed ({refine['wrong_to_right']} wrong->right, "
                           f"{refine['right_to_wrong']} right->wrong) of {refine['asked_again']} asked again",
             "judge AUROC (low coherence detects errors)": (summary["judge"] or {}).get("auroc_low_coherence_detects_errors"),
             "repeatability": summary["repeatability"], "cost per 1,000 triplets (USD)":
                 {m: c["usd_per_1000_triplets"] for m, c in summary["cost_per_1000_triplets"].items()}}
    Path(out.html).write_text(E.comparison_html(table, extra), encoding="utf-8")
    R.confusion_figure(results, out.confusion)
    rows = R.gallery_rows(refined if len(refined) else answers, truth, verdicts, int(tcfg["eval"]["gallery"]))
    R.gallery(rows, load_cubes(rows), out.gallery, tcfg["prompt"]["stretch"])
    for name, r in results.items():
        log.info("%s: accuracy %s %s (n=%d)", name, r["accuracy"], r["accuracy_ci"], r["n"])
    log.info("cost per 1000 triplets: %s", summary["cost_per_1000_triplets"])
