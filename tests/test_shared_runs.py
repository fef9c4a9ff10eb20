"""Shared runs are trained once: a paper run whose run identity (trainer and config, labels aside)
equals a Core ML run's is that run, one job and one JSON (results/<scale>/coreml/runs/<id>.json),
read by both collects; the paper collect labels it as its own run."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from saidl.common.config import load_yaml, with_rehearsal
from saidl.coreml.grid import run_configs as coreml_runs
from saidl.paper.grid import LABELS, TRAINER, run_configs as paper_runs, run_identity, shared_runs

from conftest import HANG_TIMEOUT, REPO

# At the smoke scale no paper run is a Core ML run; with NCE+RCE added to the paper's main
# comparison, main-sym-0.8-NCE+RCE-s0 is Core ML's sym-0.8-NCE+RCE-s0 (same loss, parameters,
# weight decay and smoke block).
SHARE = "paper={scales: {smoke: {main: {variants: [NCE+MAE, ANL-CE, NCE+RCE]}}}}"
PAPER_RUN, COREML_RUN = "main-sym-0.8-NCE+RCE-s0", "sym-0.8-NCE+RCE-s0"
SHARED_FILE = f"results/smoke/coreml/runs/{COREML_RUN}.json"
SUMMARIES = ("results/smoke/paper/summary.json", "results/smoke/coreml/summary.json")


@pytest.fixture(scope="module")
def cfgs():
    return (load_yaml(REPO / "tasks/paper/config.yaml")["paper"], load_yaml(REPO / "tasks/coreml/config.yaml")["coreml"])


# --- (1) the run identity -------------------------------------------------------------------------

@pytest.mark.parametrize("scale, n", [("smoke", 0), ("demo", 12), ("rehearsal", 1), ("full", 81)])
def test_the_shared_runs_are_the_papers_core_ml_runs(cfgs, scale, n):
    paper, coreml = (with_rehearsal(cfg, task) for cfg, task in zip(cfgs, ("paper", "coreml")))
    p, c = paper_runs(paper, coreml, scale), coreml_runs(coreml, scale)
    shared = shared_runs(p, c)
    assert len(shared) == n
    for rid, cid in shared.items():
        cfg = p[rid]
        assert cfg["group"] == "main" and cfg["variant"] in ("CE", "NCE+RCE", "NCE+MAE")
        assert cid == f"{cfg['noise']}-{cfg['eta']:g}-{cfg['loss']}-s{cfg['seed']}"  # run ids unchanged
        assert run_identity(cfg) == run_identity(c[cid])
        assert {k: v for k, v in cfg.items() if k not in LABELS} == {k: v for k, v in c[cid].items() if k not in LABELS}
    # ANL and the ablation's settings are no Core ML run
    assert not any(p[rid]["variant"].startswith("ANL") for rid in shared)


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {**value, "alpha": 2.5}
    return "other"


def test_the_identity_differs_when_any_training_key_differs_and_not_for_a_label(cfgs):
    paper, coreml = cfgs
    p, c = paper_runs(paper, coreml, "demo"), coreml_runs(coreml, "demo")
    cfg, other = p["main-sym-0.8-NCE+RCE-s1"], c["sym-0.8-NCE+RCE-s1"]
    assert run_identity(cfg) == run_identity(other)
    training = [k for k in cfg if k not in LABELS]
    assert {"dataset", "noise", "eta", "loss", "loss_params", "lr", "momentum", "weight_decay", "seed",
            "data_seed", "epochs", "n_train"} <= set(training)
    for key in training:
        assert run_identity({**cfg, key: _changed(cfg[key])}) != run_identity(other), key
    for key in LABELS:
        assert run_identity({**cfg, key: "relabelled"}) == run_identity(other), key
    assert run_identity({**cfg, "precision": "bf16"}) != run_identity(other)  # a key only one side has
    assert run_identity(cfg, trainer="saidl.other.train") != run_identity(other, trainer=TRAINER)


# --- (2) the DAG: one train job, both collects read its file --------------------------------------

def snakemake(root, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--cores", "2", "--config", "scale=smoke",
                           SHARE], cwd=root, capture_output=True, text=True, timeout=HANG_TIMEOUT)


def dry_jobs(root, *extra_config, targets=SUMMARIES) -> list[dict]:
    """The jobs of a dry run (to both summaries): rule, inputs and output of each."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", *targets, "--cores", "1",
                           "--config", "scale=smoke", SHARE, *extra_config],
                          cwd=root, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = []
    for line in proc.stdout.splitlines():
        if m := re.match(r"rule (\w+):$", line):
            jobs.append({"rule": m.group(1), "input": [], "output": []})
        elif jobs and (m := re.match(r"    (input|output): (.*)$", line)):
            jobs[-1][m.group(1)] = m.group(2).split(", ")
    return jobs


def trains(jobs) -> list[str]:
    return sorted(o for j in jobs if j["rule"].endswith("_train") for o in j["output"])


def test_a_dry_run_has_one_train_job_for_a_shared_run_and_both_collects_read_it(workflow_copy):
    jobs = dry_jobs(workflow_copy)
    assert trains(jobs).count(SHARED_FILE) == 1
    assert not any(PAPER_RUN in o for o in trains(jobs))  # the paper trains no copy
    assert len([j for j in jobs if j["rule"] == "coreml_train"]) == 6
    assert len([j for j in jobs if j["rule"] == "paper_train"]) == 5  # 6 paper runs, 1 shared
    collects = {j["rule"]: j["input"] for j in jobs if j["rule"].endswith("_collect")}
    assert set(collects) == {"coreml_collect", "paper_collect"}
    assert all(SHARED_FILE in inputs for inputs in collects.values())

    # the paper's report alone: Core ML's train rule still makes the shared file, and only that one
    alone = dry_jobs(workflow_copy, "tasks=[paper]", targets=("report",))
    assert {"paper_pdf", "paper_collect"} <= {j["rule"] for j in alone} and "coreml_collect" not in {
        j["rule"] for j in alone}
    assert [o for j in alone if j["rule"] == "coreml_train" for o in j["output"]] == [SHARED_FILE]


# --- (3) end to end: the shared run trains once, both summaries hold it ----------------------------

def test_a_shared_run_trains_once_and_both_summaries_hold_it(workflow_copy):
    from saidl.common.errors import RunSchemaError
    from saidl.paper.analyze import load_shared_run

    root = workflow_copy
    proc = snakemake(root, *SUMMARIES)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    started = re.findall(r"rule (coreml_train|paper_train):\n(?:    .*\n)*?    output: (\S+)", log)
    assert [o for _, o in started].count(SHARED_FILE) == 1, log[-4000:]
    assert len(started) == 11  # 6 Core ML runs and 5 paper runs: 12 asked for, 11 trained
    assert not (root / f"results/smoke/paper/runs/{PAPER_RUN}.json").exists()
    assert (root / f"logs/smoke/coreml/train/{COREML_RUN}.log").exists()
    assert not (root / f"logs/smoke/paper/train/{PAPER_RUN}.log").exists()

    run = json.loads((root / SHARED_FILE).read_text())
    paper = json.loads((root / SUMMARIES[0]).read_text())
    coreml = json.loads((root / SUMMARIES[1]).read_text())
    wall = {r["id"]: r["wall_time_s"] for r in coreml["provenance"]["runs"]}
    assert wall[COREML_RUN] == run["timing"]["wall_time_s"]
    paper_wall = {r["id"]: r["wall_time_s"] for r in paper["provenance"]["runs"]}
    assert paper_wall[PAPER_RUN] == run["timing"]["wall_time_s"]  # the same JSON, as the paper's run
    assert paper["provenance"]["shared"] == {PAPER_RUN: COREML_RUN}
    cell = paper["cells"]["main"]["sym"]["0.8"]["NCE+RCE"]
    assert cell["final"]["values"] == [run["metrics"]["final_test_acc"]]

    # the paper reads it only while it trains as the paper run: another config is refused
    grid = json.loads((root / "results/smoke/paper/grid.json").read_text())
    assert load_shared_run(root / SHARED_FILE, grid[PAPER_RUN])["config"] == grid[PAPER_RUN]
    with pytest.raises(RunSchemaError, match="another config"):
        load_shared_run(root / SHARED_FILE, {**grid[PAPER_RUN], "lr": 0.5})

    # a loss parameter edited in Core ML alone: the two runs differ, and the paper trains its own
    edit(root / "tasks/coreml/config.yaml", "NCE+RCE: {alpha: 1.0,", "NCE+RCE: {alpha: 2.0,")
    coreml_rce = [f"results/smoke/coreml/runs/{n}-NCE+RCE-s0.json" for n in ("sym-0", "sym-0.8", "asym-0.4")]
    assert trains(dry_jobs(root)) == sorted([*coreml_rce, f"results/smoke/paper/runs/{PAPER_RUN}.json"])
    # edited in both, the run is still shared: it reruns once (in Core ML), and both collects
    edit(root / "tasks/paper/config.yaml", "params: {alpha: 1.0, beta: 1.0}, weight_decay: 1.0e-4}\n    NCE+MAE",
         "params: {alpha: 2.0, beta: 1.0}, weight_decay: 1.0e-4}\n    NCE+MAE")
    both = dry_jobs(root)
    assert trains(both) == sorted(coreml_rce)
    assert {"coreml_collect", "paper_collect"} <= {j["rule"] for j in both}
    assert SHARED_FILE in next(j["input"] for j in both if j["rule"] == "paper_collect")


def edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
