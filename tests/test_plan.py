"""The cost plan (saidl.plan): job counts from the grids, "not measured" kinds, the wall-time
schedule, and the calibration file's schema. No training: configs, arithmetic and JSON only."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import subprocess
import sys

import pytest

from conftest import HANG_TIMEOUT, REPO
from saidl import plan as P
from saidl.common.errors import ConfigError


@pytest.fixture(scope="module")
def config() -> dict:
    return P.load_config(REPO)


@pytest.fixture(scope="module")
def full_jobs(config) -> list:
    return P.plan_jobs(config, "full")


def by_task(jobs, task, kind=None):
    return [j for j in jobs if j.task == task and (kind is None or j.kind == kind)]


def test_load_config_is_snakemakes_merge(config):
    assert config["scale"] == "demo" and set(P.TASKS) <= set(config)


def test_coreml_full_jobs_match_the_grid(config, full_jobs):
    from saidl.coreml.grid import run_configs

    runs = run_configs(config["coreml"], "full")
    jobs = by_task(full_jobs, "coreml")
    assert {j.name for j in jobs} == set(runs) and len(jobs) == 9 * 12 * 3  # (5 sym + 4 asym) x 12 losses x 3 seeds
    step, predict = P.trainer_keys("coreml", next(iter(runs.values())))
    assert step == "coreml.train_step:cnn8/cifar10/b128"
    for j in jobs:  # 120 epochs x ceil(50,000 / 128) batches; 60,000 images scored per epoch
        assert j.work == {step: 120 * math.ceil(50_000 / 128), predict: 120 * 60_000} and j.gpu


def test_ssm_rl_diffusion_multimodal_full_jobs_match_the_grids(config, full_jobs):
    from saidl.diffusion.grid import run_configs as diff_runs
    from saidl.multimodal.grid import needed_features, run_configs as mm_runs
    from saidl.rl.grid import run_configs as rl_runs
    from saidl.ssm.grid import run_configs as ssm_runs

    runs = ssm_runs(config["ssm"], "full")
    train = by_task(full_jobs, "ssm", "train run")
    assert {j.name for j in train} == {r for r, c in runs.items() if c["backend"] == "torch"}
    step, _ = P.ssm_keys(runs["s4-zoh-s0"])
    assert by_task(full_jobs, "ssm", "NumPy train run")[0].gpu is False
    assert next(j for j in train if j.name == "s4-zoh-s0").work[step] == 100 * math.ceil(45_000 / 64)

    runs = rl_runs(config["rl"], "full")
    jobs = by_task(full_jobs, "rl")
    assert {j.name for j in jobs} == set(runs) and len(jobs) == 7 * 5
    td3 = next(j for j in jobs if j.name == "td3-s0")
    assert td3.work[P.rl_keys(runs["td3-s0"])["update"]] == 1_000_000 - 25_000

    runs = diff_runs(config["diffusion"], "full")
    train = by_task(full_jobs, "diffusion", "DiT training")
    assert {j.name for j in train} == set(runs)
    for j in train:
        assert j.work[P.diffusion_keys(runs[j.name])["train"]] == runs[j.name]["steps"] * runs[j.name]["batch_size"]
    assert len(by_task(full_jobs, "diffusion", "samples")) == len(runs)

    mm = config["multimodal"]
    assert {j.name for j in by_task(full_jobs, "multimodal", "train run")} == set(mm_runs(mm, "full"))
    assert {j.name for j in by_task(full_jobs, "multimodal", "features")} == \
        {f"features-{f}" for f in needed_features(mm, "full")}


def test_paper_cpu_runs_are_cpu_jobs(config, full_jobs):
    from saidl.coreml.grid import run_configs as coreml_runs
    from saidl.paper.grid import run_configs, shared_runs

    runs = run_configs(config["paper"], config["coreml"], "full")
    shared = shared_runs(runs, coreml_runs(config["coreml"], "full"))
    jobs = by_task(full_jobs, "paper")
    assert {j.name for j in jobs} == set(runs) - set(shared) and len(shared) == 81
    # a shared run is Core ML's job, costed once; with the paper alone it is still costed, as Core ML's
    alone = P.plan_jobs(config, "full", ["paper"])
    assert len(alone) == len(runs) and {j.name for j in by_task(alone, "coreml")} == set(shared.values())
    for j in jobs:
        assert j.gpu == (runs[j.name]["device"] != "cpu")


def entry(kinds: dict) -> dict:
    return {"device": "Test GPU", "torch": "2.0", "date": "2026-01-01", "source": "a test",
            "kinds": {k: {"seconds": s, "unit": P.unit(k), "at": "a test"} for k, s in kinds.items()}}


def test_unmeasured_kind_prints_not_measured(config):
    from saidl.coreml.grid import run_configs

    jobs = P.plan_jobs(config, "full", ["coreml"])
    step, predict = P.trainer_keys("coreml", next(iter(run_configs(config["coreml"], "full").values())))
    text = P.render(jobs, "test-gpu", entry({step: 0.01}), "full", 16, 1)
    assert f"{predict}, 7,200,000 per job: not measured" in text
    assert "coreml total: 324 jobs" in text and "incomplete: 1 kinds not measured" in text
    # the measured kind is costed: 324 runs x 46,920 steps x 0.01 s
    assert f"{324 * 46_920 * 0.01 / 3600:,.1f} h in GPU jobs" in text
    assert "Wall time with 1 GPU and 16 cores: at least" in text
    full = P.render(jobs, "test-gpu", entry({step: 0.01, predict: 1e-5}), "full", 16, 1)
    assert "not measured" not in full and "incomplete" not in full and "at least" not in full


def job(name, seconds, gpu=True, threads=1, after=()):
    j = P.Job("t", "k", name, gpu, threads, {}, tuple(f"t/{a}" for a in after))
    j.seconds = seconds
    return j


def test_wall_time_list_schedule():
    gpu = [job("a", 30), job("b", 20), job("c", 10)]
    assert P.wall_time(gpu, cores=8, gpus=1) == 60           # serialised on one GPU
    assert P.wall_time(gpu, cores=8, gpus=2) == 30           # LPT: a | b, c
    assert P.wall_time(gpu, cores=8, gpus=3) == 30
    cpu = [job("x", 10, gpu=False, threads=2), job("y", 10, gpu=False, threads=2)]
    assert P.wall_time(cpu, cores=2, gpus=1) == 20            # each holds both cores
    assert P.wall_time(cpu, cores=4, gpus=1) == 10
    mixed = [job("g", 50), job("x", 10, gpu=False), job("y", 10, gpu=False)]
    assert P.wall_time(mixed, cores=2, gpus=1) == 50          # CPU jobs beside the GPU job
    assert P.wall_time(mixed, cores=1, gpus=1) == 70          # one core: nothing runs beside
    chain = [job("train", 40), job("sample", 5, after=("train",)), job("other", 30)]
    assert P.wall_time(chain, cores=8, gpus=2) == 45          # the sample waits for its training
    assert P.wall_time([job("g", 7), job("h", 7)], cores=4, gpus=0) == 7  # no GPU: on the cores
    with pytest.raises(ConfigError, match="cycle"):
        P.wall_time([job("p", 1, after=("q",)), job("q", 1, after=("p",))], cores=1, gpus=1)


def test_full_wall_time_on_one_gpu_is_at_least_the_gpu_hours(config, full_jobs):
    """Every GPU job runs once on the one GPU: no job is lost to a name clash or a dependency."""
    kinds = {k: {"seconds": 1e-3} for j in full_jobs for k in j.work}
    P.cost(full_jobs, kinds)
    gpu_s = sum(j.seconds for j in full_jobs if j.gpu)
    assert len({j.id for j in full_jobs}) == len(full_jobs)
    assert P.wall_time(full_jobs, cores=16, gpus=1) >= gpu_s > 0


def test_committed_calibration_follows_the_schema():
    cal = json.loads(P.CALIBRATION.read_text())
    P.check_calibration(cal)
    assert cal["devices"], "no device entry"
    for name, e in cal["devices"].items():
        assert name == name.lower() and e["kinds"]
        if name.startswith("cpu-"):  # written by scripts/gpu_check.py --calibration on a CPU
            assert e["source"].startswith("scripts/gpu_check.py") and "host" in e
    h100 = cal["devices"]["nvidia-h100"]  # from closing notes only: cited, and only what they measured
    assert "issues stops" in h100["source"] and h100["torch"] == "2.11"
    assert set(h100["kinds"]) == {
        "diffusion.train_latent:adaln/sdpa/h768x12/p4/256px", "diffusion.forward:adaln/matmul/h768x12/p4/256px",
        "diffusion.forward:adaln/sdpa/h768x12/p4/256px", "diffusion.forward:adaln/sliding-w2/h768x12/p4/256px",
        "multimodal.train_epoch:dmg777k/bases/dim64"}
    assert h100["kinds"]["diffusion.train_latent:adaln/sdpa/h768x12/p4/256px"]["seconds"] == pytest.approx(0.08 / 64)


@pytest.mark.parametrize("change, words", [
    (lambda e: e.pop("torch"), "needs 'torch'"),
    (lambda e: e.update(date="6 Dec"), "YYYY-MM-DD"),
    (lambda e: e["kinds"].update({"nonsense:x": {"seconds": 1.0, "unit": "u", "at": "a"}}), "unknown cost kind"),
    (lambda e: next(iter(e["kinds"].values())).update(seconds=0), "seconds must be > 0"),
    (lambda e: next(iter(e["kinds"].values())).update(unit="a step"), "is not the plan's"),
])
def test_calibration_schema_errors(change, words):
    e = entry({"rl.update:td3/h256/b256/n3": 0.01})
    change(e)
    with pytest.raises(ConfigError, match=words):
        P.check_calibration({"devices": {"x": e}})


def test_merge_keeps_kinds_only_for_the_same_device_and_torch():
    cal = {"devices": {"gpu": entry({"rl.update:td3/h256/b256/n3": 1.0, "rl.env_step:Hopper-v4/td3/h256": 2.0})}}
    new = entry({"rl.update:td3/h256/b256/n3": 0.5})
    merged = P.merge_entry(copy.deepcopy(cal), "gpu", new)["devices"]["gpu"]["kinds"]
    assert merged["rl.update:td3/h256/b256/n3"]["seconds"] == 0.5 and "rl.env_step:Hopper-v4/td3/h256" in merged
    other = {**new, "torch": "3.0"}
    merged = P.merge_entry(copy.deepcopy(cal), "gpu", other)["devices"]["gpu"]["kinds"]
    assert set(merged) == {"rl.update:td3/h256/b256/n3"}


def test_find_device_by_prefix_and_errors():
    cal = {"devices": {"nvidia-h100": {}, "nvidia-h100-80gb-hbm3": {}, "cpu-amd-epyc-2t": {}}}
    assert P.find_device(cal, "nvidia-h100")[0] == "nvidia-h100"  # the exact name first
    assert P.find_device(cal, "cpu")[0] == "cpu-amd-epyc-2t"
    with pytest.raises(ConfigError, match="none matches"):
        P.find_device(cal, "tpu")
    with pytest.raises(ConfigError, match="several match"):
        P.find_device(cal, "nvidia")


def test_gpu_check_writes_a_calibration_entry(tmp_path):
    """scripts/gpu_check.py's writer (no part run): the entry names the device, follows the schema
    and merges into an existing file."""
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts/gpu_check.py")
    gc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gc)
    gc.RECORD.enabled = True
    gc.RECORD("rl.update:td3/h256/b256/n3", 0.004, "a test")
    gc.RECORD.commit(True)
    gc.RECORD("rl.env_step:Hopper-v4/td3/h256", 0.001, "a failed part")
    gc.RECORD.commit(False)
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"devices": {"other": entry({"rl.update:td3/h256/b256/n3": 1.0})}}))
    args = type("A", (), {"device": "cpu", "calibration": path})()
    gc.write_calibration(args, ["--device", "cpu", "--calibration", str(path)])
    cal = P.load_calibration(path)
    name = next(n for n in cal["devices"] if n.startswith("cpu-"))
    e = cal["devices"][name]
    assert set(e["kinds"]) == {"rl.update:td3/h256/b256/n3"} and "other" in cal["devices"]
    assert e["source"].startswith("scripts/gpu_check.py --device cpu") and e["torch"]


def test_make_plan_runs_the_module():
    out = subprocess.run(["make", "-n", "plan"], cwd=REPO, capture_output=True, text=True).stdout
    assert "-m saidl.plan --scale full --device nvidia-h100" in out
    proc = subprocess.run([sys.executable, "-m", "saidl.plan", "--scale", "full", "--device", "nvidia-h100",
                           "--cores", "16", "--gpus", "1", "--tasks", "diffusion"],
                          cwd=REPO, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "diffusion.train_latent:adaln/sdpa/h768x12/p4/256px" in proc.stdout and "not measured" in proc.stdout
