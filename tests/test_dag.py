"""The DAG itself: a dry run of the default config, and the whole pipeline on a micro demo."""

import json
import re

import pytest

from conftest import run_snakemake


def test_default_config_plans(workflow_copy):
    proc = run_snakemake(workflow_copy, "-n")
    out = proc.stdout + proc.stderr
    assert re.search(r"^train\s+3$", out, re.M)  # full, head and shuffled on abstracts
    assert re.search(r"^embed_image_part\s+8$", out, re.M)  # (base + 3 trained) x 1 part x (val, test)
    assert re.search(r"^search_eval\s+4$", out, re.M)  # search quality per model (threshold chosen on val)
    assert re.search(r"^demo_observations\s+2$", out, re.M)  # one job per shard, not per observation
    assert re.search(r"^compare\s+1$", out, re.M)


def test_lint_is_clean(workflow_copy):
    proc = run_snakemake(workflow_copy, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def planned(proc) -> dict:
    """The job-stats table of a dry run: rule -> count."""
    return dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, re.M))


@pytest.mark.e2e
def test_micro_demo_end_to_end(micro_all):
    """The image study of the shared micro run (conftest ``micro_all``): results, an independent recomputation,
    partial reruns, the report. Leaves the run finished for the tests that share it."""
    workflow_copy, first = micro_all.wf, micro_all.first
    # training shows one line per evaluation on the terminal, not only in its log
    assert re.search(r"train full-abstract: step 20/60 loss [0-9.]+ val_loss [0-9.]+ val top-10% [0-9.]+", first.stderr)
    res = json.loads((workflow_copy / "results/images/demo/eval/retrieval.json").read_text())["results"]
    assert {"base/abstract", "full-abstract/abstract", "shuffled-abstract/abstract", "random", "oracle"} <= set(res)
    # both caption types (abstracts and LLM summaries) go through training, evaluation and the comparison table
    assert {"base/summary", "full-summary/summary", "shuffled-summary/summary"} <= set(res)
    import pandas as pd

    table = pd.read_csv(workflow_copy / "results/images/demo/eval/comparison.csv")
    assert {"full-abstract/abstract", "full-summary/summary"} <= set(table["model"])
    caps = pd.read_parquet(workflow_copy / "results/images/demo/captions/summary.parquet")
    assert len(caps) and caps["text"].str.startswith("Objects and phenomena:").all()
    for name, r in res.items():
        for direction in ("image_to_text", "text_to_image"):
            curve = r[direction]["topk_percent"]["accuracy"]
            assert len(curve) == 100 and curve[-1] == pytest.approx(1.0)
            assert all(a <= b + 1e-12 for a, b in zip(curve, curve[1:]))  # monotone in k
    assert res["oracle"]["image_to_text"]["top10pct"] >= res["full-abstract/abstract"]["image_to_text"]["top10pct"] - 0.05
    # the micro run is too short to learn much, but it must not be worse than chance by a wide margin
    assert res["full-abstract/abstract"]["image_to_text"]["top10pct"] > 0.5 * res["random"]["image_to_text"]["top10pct"]
    for rel in ("results/images/demo/eval/comparison.csv", "results/images/demo/eval/retrieval_curves.png",
                "results/images/demo/eval/comparison.html", "results/images/demo/eval/search/full-abstract.csv",
                "results/images/demo/models/full-abstract/training_curves.png", "results/images/demo/dataset/rejects.parquet"):
        assert (workflow_copy / rel).stat().st_size > 0
    # the headline number agrees with a brute-force recomputation from the saved embeddings
    import math

    import numpy as np

    emb = workflow_copy / "results/images/demo/embed/full-abstract/test"
    img, txt = np.load(emb / "images.npy").astype(np.float64), np.load(emb / "texts_abstract.npy").astype(np.float64)
    img_p = pd.read_parquet(emb / "images.parquet")["proposal_id"].tolist()
    txt_p = pd.read_parquet(emb / "texts_abstract.parquet")["proposal_id"].tolist()
    hits = 0
    for i, p in enumerate(img_p):
        s = [float(img[i] @ txt[j]) for j in range(len(txt_p))]
        true = s[txt_p.index(p)]
        hits += (1 + sum(x > true for x in s)) <= math.ceil(0.1 * len(txt_p))
    assert res["full-abstract/abstract"]["image_to_text"]["top10pct"] == pytest.approx(hits / len(img_p))
    # a rerun does nothing; deleting one evaluation redoes only that rule and what depends on it
    proc = run_snakemake(workflow_copy, "--configfile", micro_all.config, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    micro = ("--configfile", micro_all.config)
    (workflow_copy / "results/images/demo/eval/retrieval.json").unlink()
    jobs = planned(run_snakemake(workflow_copy, *micro, "-n"))
    assert jobs == {"compare": "1", "all": "1", "total": "2"}, jobs  # nothing else reads it
    # a single evaluation, asked for by name, is redone alone
    (workflow_copy / "results/images/demo/eval/base/abstract.json").unlink()
    jobs = planned(run_snakemake(workflow_copy, *micro, "-n", "results/images/demo/eval/base/abstract.json"))
    assert jobs == {"evaluate": "1", "total": "1"}, jobs
    run_snakemake(workflow_copy, *micro)
    # the report builds into one HTML file
    run_snakemake(workflow_copy, "--configfile", micro_all.config, "--report", "report.html")
    html = (workflow_copy / "report.html").read_text(errors="ignore")
    assert "retrieval_curves.png" in html
    assert "comparison.html" in html  # the comparison table is shown inline, not only as a download
    assert "Studies run: images, spectra, transients, analysis." in html and "captions: abstract, summary;" in html  # the description is text...
    assert "['images'" not in html and "['abstract'" not in html and "{'steps'" not in html  # ...not reprs
    spec = html[html.index("var rulegraph_spec = ") :].split("\n", 1)[0]
    spec = json.loads(spec.removeprefix("var rulegraph_spec = ").rstrip(";"))
    nodes = [v["rule"] for d in spec["data"] if d.get("name") == "node-data" for v in d["values"]]
    # every image rule is in the report's rule graph (Snakemake draws a rule once per depth at which its jobs sit:
    # with summary captions the summary models sit deeper than the abstract ones)
    assert {"base_model", "train", "embed_images", "embed_texts", "evaluate", "compare"} <= set(nodes), sorted(nodes)
