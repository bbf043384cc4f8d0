"""Change one setting, rerun only what reads it: a dry run against a finished micro run of all four studies.

Each row of ``RERUNS`` names a config change and the rules whose code reads that setting (the *readers*). After
the change, Snakemake must schedule exactly the readers and everything downstream of them in the job graph
(whose outputs depend on theirs), and nothing else. The README's *Reruns* table is this table.
"""

import re

import pytest
import yaml

from conftest import ROOT, run_snakemake

pytestmark = pytest.mark.e2e

CONFIG = "micro-all.yaml"
TARGETS = {"all", "images", "spectra", "transients", "analysis"}  # aggregate rules: no code, always replanned


def micro_config() -> dict:
    """The shared micro config of all four studies (tests/configs/micro-all.yaml)."""
    return yaml.safe_load((ROOT / "tests" / "configs" / "micro-all.yaml").read_text())


# (config change as --config words, the rules that read it; None: nothing may rerun)
RERUNS = [
    ("transients={judge: {refine_below: 0.9}}", {"transients_judge"}),
    ("transients={cnn: {epochs: 3}}", {"transients_cnn"}),
    ("images={train: {steps: 40}}", {"train"}),
    ("spectra={regression: {epochs: 30}}", {"spectra_regression"}),
    ("spectra={align: {epochs: 10}}", {"spectra_align"}),
    ("analysis={umap: {n_neighbors: 8}}", {"analysis_umap"}),
    ("llm={model: gpt-4o}", {"summarise"}),
    ("resources={images: {train_threads: 2}, spectra: {train_mem_mb: 5000}}", None),
    ("resources={gpu: 0, transients: {train_runtime: 30}}", None),
]


@pytest.fixture(scope="module")
def finished_run(micro_all):
    """The finished micro run of all four studies, and its job graph: job -> (rule, the jobs that consume its
    outputs), from ``snakemake --dag`` (every job, done or not, with its wildcards)."""
    dot = run_snakemake(micro_all.wf, "--configfile", CONFIG, "--dag", "--forceall", "--quiet", "all").stdout
    return micro_all.wf, job_graph(dot)


def job_graph(dot: str) -> dict[str, tuple[str, set[str]]]:
    """job id -> (its rule, the ids of the jobs downstream of it), from ``snakemake --dag`` (dot)."""
    rule_of = {n: label.split("\\n")[0] for n, label in re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, flags=re.M)}
    out = {n: (rule, set()) for n, rule in rule_of.items()}
    for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M):
        out[a][1].add(b)
    return out


def closure(readers: set[str], graph: dict[str, tuple[str, set[str]]]) -> set[str]:
    """The rules of every job of the readers and of every job downstream of one (job by job, so a rule of which
    only some jobs depend on the readers, e.g. one model of several, counts only through those)."""
    todo = [j for j, (rule, _) in graph.items() if rule in readers]
    seen = set()
    while todo:
        job = todo.pop()
        if job not in seen:
            seen.add(job)
            todo.extend(graph[job][1])
    return {graph[j][0] for j in seen}


def scheduled(wf, *config_words: str) -> dict[str, list[str]]:
    """rule -> the reasons Snakemake gives for each job a dry run would run (aggregate target rules left out)."""
    args = ["--configfile", CONFIG, "-n"]
    if config_words:
        args += ["--config", *config_words]
    out = run_snakemake(wf, *args).stdout
    jobs: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if m and m.group(1) not in TARGETS:
            reason = re.search(r"reason: ([^\n]*)", block)
            jobs.setdefault(m.group(1), []).append(reason.group(1) if reason else "")
    return jobs


def test_a_finished_run_has_nothing_to_do(finished_run):
    wf, _ = finished_run
    assert scheduled(wf) == {}


@pytest.mark.parametrize("change, readers", RERUNS, ids=[c for c, _ in RERUNS])
def test_a_change_reruns_its_readers_and_their_downstream_only(finished_run, change, readers):
    wf, graph = finished_run
    rules = {rule for rule, _ in graph.values()}
    assert readers is None or readers <= rules, f"{readers - rules} are not rules of this DAG"
    expected = set() if readers is None else closure(readers, graph) - TARGETS
    jobs = scheduled(wf, change)
    assert set(jobs) == expected, (
        f"{change}: extra {sorted(set(jobs) - expected)}, missing {sorted(expected - set(jobs))}\n"
        + "\n".join(f"  {rule}: {reasons[0]}" for rule, reasons in sorted(jobs.items()))
    )
    for rule in readers or ():
        assert any("Params have changed" in r for r in jobs[rule]), f"{rule} reran for {jobs[rule]}"


def test_a_new_training_mode_plans_only_its_own_chain(finished_run):
    """images.train.modes += [scratch]: the scratch model's jobs and the tables that list every model."""
    wf, graph = finished_run
    out = run_snakemake(wf, "--configfile", CONFIG, "-n", "--config",
                        "images={train: {modes: [full, shuffled, scratch]}}").stdout
    blocks = [b for b in re.split(r"\n(?=(?:local)?rule \w+:)", out) if re.match(r"(?:local)?rule \w+:", b.strip())]
    not_scratch = sorted({re.match(r"(?:local)?rule (\w+):", b.strip()).group(1) for b in blocks
                          if "scratch" not in b})
    # rules that gather every model (tables, figures, the report inputs) may rerun without naming scratch
    gatherers = closure({"compare"}, graph) | TARGETS
    assert set(not_scratch) <= gatherers, f"jobs outside the scratch chain: {sorted(set(not_scratch) - gatherers)}"
    assert any("scratch" in b and re.match(r"\s*rule train:", b) for b in blocks), "no scratch train job planned"
