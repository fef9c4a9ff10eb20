"""End to end at the rehearsal scale, in a copy of the workflow: the full configuration with only
budgets shrunk, on the format-exact fakes that ``python -m saidl.fakes`` makes. Every task's PDF
and the combined PDF are built; each full-only section is there with the runs' numbers, and page 1
lists exactly the rehearsal's differences from ``full``."""

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import HANG_TIMEOUT, REPO, needs_latex
from saidl.common.config import scale_changes
from saidl.common.io import read_json

# the rehearsal build takes about 8 minutes on 2 idle cores and several times that on a loaded
# machine: the timeout only catches a hang
pytestmark = [needs_latex, pytest.mark.timeout(HANG_TIMEOUT)]
TASKS = ("coreml", "ssm", "rl", "diffusion", "paper", "multimodal")
IGNORE = shutil.ignore_patterns(".venv", "results", "logs", ".snakemake", "__pycache__", "*.egg-info",
                                ".pytest_cache", "data", ".whl")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    root = tmp_path_factory.mktemp("rehearsal") / "repo"
    shutil.copytree(REPO, root, ignore=IGNORE)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "report", "--cores", "2", "--config", "scale=rehearsal"],
                          cwd=root, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    if proc.returncode != 0:
        raise AssertionError(f"rehearsal report failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return root


def pdf_text(path, first=None, last=None, layout=False) -> str:
    """The PDF's text without whitespace; ``layout`` keeps a table's rows together."""
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    out = subprocess.run(["pdftotext", *pages, *(["-layout"] if layout else []), str(path), "-"],
                         capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", out)


def task_config(task: str) -> dict:
    return yaml.safe_load((REPO / f"tasks/{task}/config.yaml").read_text())[task]


def changes_of(task: str) -> list[dict]:
    tasks = ("paper", "coreml") if task == "paper" else (task,)
    return [c for t in tasks for c in scale_changes(task_config(t), t, "rehearsal")]


@pytest.mark.parametrize("task", TASKS)
def test_page_one_lists_every_change_from_full(workflow, task):
    pdf = workflow / f"results/rehearsal/{task}/{task}.pdf"
    first = pdf_text(pdf, 1, 2, layout=True)  # the note starts on page 1; a long list may run onto page 2
    changes = changes_of(task)
    assert changes, f"{task} has no rehearsal changes"
    assert "Rehearsal:thesenumberstestthepipeline,notthemethods." in pdf_text(pdf, 1)
    assert f"withonlythe{len(changes)}valuesbelowchanged" in first
    for c in changes:
        assert re.sub(r"\s+", "", f"{c['key']}:{c['full']}") in first, c
    assert "??" not in pdf_text(pdf)


def test_combined_pdf_holds_every_task(workflow):
    out = workflow / "results/rehearsal"
    combined = out / "report.pdf"
    assert combined.stat().st_size > sum((out / t / f"{t}.pdf").stat().st_size for t in TASKS) * 0.5


def test_fakes_are_stamped_and_never_at_full(workflow):
    stamps = sorted((workflow / "data/rehearsal/.complete").glob("*.json"))
    assert stamps, "no fake assets were made"
    for stamp in stamps:
        assert read_json(stamp)["fake"] is True
    for task in TASKS:  # the full blocks never point at the fakes
        full = yaml.safe_dump(task_config(task)["scales"]["full"])
        assert "rehearsal" not in full, task


def _batched_runs(workflow) -> dict[str, set[str]]:
    """The runs the workflow trains in batched packs at the rehearsal (full's packing): members of
    a pack of two or more (a key with one run trains alone), SALE's packs aside."""
    from saidl.common.workflow import packs
    from saidl.coreml.grid import pack_key as coreml_key
    from saidl.coreml.grid import run_configs as coreml_runs
    from saidl.coreml.grid import scale_config as coreml_scale
    from saidl.paper.grid import run_configs as paper_runs
    from saidl.paper.grid import shared_runs
    from saidl.plan import load_config
    from saidl.rl.grid import pack_key as rl_key
    from saidl.rl.grid import run_configs as rl_runs
    from saidl.rl.grid import scale_config as rl_scale
    from saidl.ssm.grid import pack_key as ssm_key
    from saidl.ssm.grid import run_configs as ssm_runs
    from saidl.ssm.grid import scale_config as ssm_scale

    config = load_config(workflow)
    k = coreml_scale(config["coreml"], "rehearsal")["pack"]
    core = coreml_runs(config["coreml"], "rehearsal")
    paper = paper_runs(config["paper"], config["coreml"], "rehearsal")
    own = {r: c for r, c in paper.items() if r not in shared_runs(paper, core)}
    rl = rl_runs(config["rl"], "rehearsal")
    ssm = ssm_runs(config["ssm"], "rehearsal")
    return {"coreml": {r for m in packs(core, k, coreml_key).values() for r in m},
            "paper": {r for m in packs(own, k, coreml_key).values() for r in m},
            "rl": {r for m in packs(rl, rl_scale(config["rl"], "rehearsal")["pack"], rl_key).values() for r in m
                   if not rl[r]["sale"]},
            "ssm": {r for m in packs(ssm, ssm_scale(config["ssm"], "rehearsal")["pack"], ssm_key).values() for r in m
                    if ssm[r]["backend"] == "torch"}}


def test_the_full_scale_packs_ran_batched(workflow):
    """The rehearsal runs the full scale's packing: Core ML, paper, RL (TD3 and noisy nets) and SSM
    (the PyTorch models) in batched packs; SALE's and the NumPy S4D's serially (one run per
    process, no ``packed`` block)."""
    expected = _batched_runs(workflow)
    assert all(expected.values())
    for task, batched in expected.items():
        runs = {p.stem: read_json(p) for p in (workflow / f"results/rehearsal/{task}/runs").glob("*.json")}
        assert batched <= set(runs)
        for rid, doc in runs.items():
            assert (doc["timing"].get("packed", {}).get("mode") == "vmap") == (rid in batched), (task, rid)


def context(workflow, task: str) -> tuple[dict, dict, str]:
    """(summary, report context, whitespace-free PDF text) of a task at the rehearsal."""
    import importlib

    out = workflow / f"results/rehearsal/{task}"
    summary = read_json(out / "summary.json")
    return summary, importlib.import_module(f"saidl.{task}.report").context(summary), pdf_text(out / f"{task}.pdf")


@pytest.mark.parametrize("task,heading", [("coreml", "Ournumbersbesidethepublishedones"),
                                          ("paper", "Ournumbersbesidethepublishedones")])
def test_published_numbers_stand_beside_ours(workflow, task, heading):
    summary, ctx, text = context(workflow, task)
    assert summary["scale"] == "rehearsal" and ctx["is_full"] and ctx["reference"]
    assert heading in text
    name = "loss" if task == "coreml" else "variant"
    rows = pdf_text(workflow / f"results/rehearsal/{task}/{task}.pdf", layout=True)
    for r in ctx["reference"]:  # each row: our number beside the published one, with its tag
        ours = re.sub(r"[\s$]", "", str(r["ours"]))  # a LaTeX cell such as "10.0, $n=1$"
        assert f"{r['noise']}{r['eta']}{r[name]}{ours}{r['paper']}({r['tag']})" in rows, r


def test_ssm_and_rl_full_sections(workflow):
    summary, ctx, text = context(workflow, "ssm")
    assert ctx["is_full"] and "Ournumbersbesidethepublishedones" in text
    assert summary["dataset"]["name"] == "cifar10_gray" and "LRAImage" in text
    for r in ctx["reference"]:
        assert f"{r['value']}" in text
    for name, model in summary["per_model"].items():
        assert name in text and f"{100 * model['final']['mean']:.1f}" in text
    summary, ctx, text = context(workflow, "rl")
    assert ctx["is_full"] and "Ourreturnsbesidethepublishedones" in text
    assert set(summary["per_variant"]) == set(task_config("rl")["scales"]["full"]["variants"])
    for r in ctx["reference"]:
        assert f"{r['mean']:.0f}" in text.replace(",", "")


def test_diffusion_full_path_ran_on_the_fakes(workflow):
    summary, ctx, text = context(workflow, "diffusion")
    assert ctx["is_full"] and summary["codec"] and "sd-vae-ft-ema" in text
    assert "WesamplethepretrainedDiT-XL/2" in text and "CLIP,SigLIPandALIGNareloadedthroughHuggingFace" in text
    full = task_config("diffusion")["scales"]["full"]
    assert set(summary["runs"]) == set(full["runs"])
    for name, run in summary["runs"].items():  # the full embedders score every run
        assert name in text and f"{run['fid']:.1f}" in text
        assert set(run["scores"]) >= set(full["evaluation"]["embedders"]) - {"inception"}
    for group, ref in summary["references"].items():  # the realised reference size (problem 3)
        assert ref["n"] > 0


def test_multimodal_full_path_ran_on_the_fake_dmg777k(workflow):
    summary, ctx, text = context(workflow, "multimodal")
    assert ctx["is_full"] and "Publishedbaselines" in text
    full = task_config("multimodal")["scales"]["full"]
    assert set(summary["cells"]) >= set(full["feature_sets"])  # the CLIP sets included
    for name, cell in summary["cells"].items():
        assert name.replace(" ", "") in text and f"{100 * cell['test_acc']['mean']:.1f}" in text
    assert "notdmg777k" in text  # the fake's checksums differ from the published ones, and page 1 says so
