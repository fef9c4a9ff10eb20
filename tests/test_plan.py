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
    """The full scale's jobs one run per job (every pack 1), whatever packs its config sets."""
    return P.plan_jobs(config, "full", packing=False)


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
    alone = P.plan_jobs(config, "full", ["paper"], packing=False)
    assert len(alone) == len(runs) and {j.name for j in by_task(alone, "coreml")} == set(shared.values())
    for j in jobs:
        assert j.gpu == (runs[j.name]["device"] != "cpu")


def entry(kinds: dict) -> dict:
    return {"device": "Test GPU", "torch": "2.0", "date": "2026-01-01", "source": "a test",
            "kinds": {k: {"seconds": s, "unit": P.unit(k), "at": "a test"} for k, s in kinds.items()}}


def test_unmeasured_kind_prints_not_measured(config):
    from saidl.coreml.grid import run_configs

    jobs = P.plan_jobs(config, "full", ["coreml"], packing=False)
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


# ------------------------------------------------------------------------------------ packing


def packed(config: dict, **blocks) -> dict:
    """``config`` with the full scale blocks of some tasks changed, e.g. coreml={"pack": 4}."""
    cfg = copy.deepcopy(config)
    for task, change in blocks.items():
        cfg[task]["scales"]["full"].update(change)
    return cfg


def test_pack_4_gives_fewer_jobs_named_as_the_rules(config):
    from saidl.common.workflow import packs
    from saidl.coreml.grid import pack_key, run_configs

    cfg = packed(config, coreml={"pack": 4, "pack_mode": "serial"}, ssm={"pack": 4}, multimodal={"pack": 4},
                 rl={"pack": 4, "pack_mode": "serial"})
    before = P.plan_jobs(cfg, "full", packing=False)
    after = P.plan_jobs(cfg, "full")
    for task in ("coreml", "ssm", "rl", "multimodal"):
        assert len(by_task(after, task)) < len(by_task(before, task)), task
    runs = run_configs(cfg["coreml"], "full")
    groups = packs(runs, 4, pack_key)
    jobs = by_task(after, "coreml")
    assert len(jobs) == len(groups) == 81 and {j.kind for j in jobs} == {"train pack (serial)"}
    assert {j.name for j in jobs} == {f"coreml_train_{p}" for p in groups}  # the rule names
    assert sorted(r for j in jobs for r in j.members) == sorted(runs)
    # every pack's runs are trained once: the packed plan's run ids are the unpacked plan's
    for task in ("ssm", "rl", "multimodal"):
        names = {j.name for j in by_task(before, task) if j.kind.endswith("run")}
        assert {r for j in by_task(after, task) for r in (j.members or (j.name,))} >= names
    # a pack waits for the union of its members' inputs and runs where they run
    mm = next(j for j in by_task(after, "multimodal") if j.members)
    alone = {j.name: j for j in by_task(before, "multimodal")}
    assert set(mm.after) == {a for r in mm.members for a in alone[r].after} and mm.gpu == alone[mm.members[0]].gpu


def test_serial_pack_seconds_are_the_sum_of_its_members(config):
    cfg = packed(config, coreml={"pack": 4, "pack_mode": "serial"}, rl={"pack": 4, "pack_mode": "serial"},
                 ssm={"pack": 4, "pack_mode": "serial"}, multimodal={"pack": 4})
    before = {j.id: j for j in P.plan_jobs(cfg, "full", packing=False)}
    after = P.plan_jobs(cfg, "full")
    kinds = {k: {"seconds": 1e-3 * (1 + i % 7)} for i, k in enumerate(sorted({k for j in before.values()
                                                                                    for k in j.work}))}
    P.cost(list(before.values()), kinds)
    P.cost(after, kinds)
    packs_ = [j for j in after if j.members]
    assert {j.task for j in packs_} == {"coreml", "paper", "ssm", "rl", "multimodal"}
    for j in packs_:
        members = [before[f"{j.task}/{r}"] for r in j.members]
        assert j.kind.endswith("(serial)") and "start-up saved is not modelled" in j.note
        assert j.seconds == pytest.approx(sum(m.seconds for m in members))
        assert j.threads == members[0].threads
    assert sum(j.seconds for j in after) == pytest.approx(sum(j.seconds for j in before.values()))


def test_vmap_pack_uses_the_packed_kind_not_measured_when_absent(config):
    from saidl.coreml.grid import run_configs

    cfg = packed(config, coreml={"pack": 4, "pack_mode": "vmap"})
    after = P.plan_jobs(cfg, "full", ["coreml"])
    runs = run_configs(cfg["coreml"], "full")
    step, predict = P.trainer_keys("coreml", next(iter(runs.values())))
    key = "coreml.packed_step:cnn8/cifar10/b128/k4"
    assert P.packed_step_key("coreml", next(iter(runs.values())), 4) == key
    assert len(after) == 81
    for j in after:  # one batched step per pack step (not times K); each member evaluated as alone
        assert j.kind == "train pack (vmap)" and len(j.members) == 4
        assert j.work == {key: 120 * math.ceil(50_000 / 128), predict: 4 * 120 * 60_000}
    before = P.plan_jobs(cfg, "full", ["coreml"], packing=False)
    text = P.render(after, "test-gpu", entry({step: 0.01, predict: 1e-5}), "full", 16, 1, before=before)
    assert f"{key}, 46,920 per job: not measured" in text and "coreml total: 81 jobs" in text
    assert "incomplete: 1 kinds not measured" in text
    lines = text[text.index("Before and after packing"):].splitlines()
    assert lines[2].split()[:2] == ["before", "324"] and lines[2].endswith("complete")
    assert lines[3].split()[:2] == ["after", "81"] and "a lower bound (1 kinds not measured)" in lines[3]
    assert "packs after: coreml 81 (vmap)" in text and key in lines[-1]
    # measured: the packed step replaces 4 alone steps' cost
    text = P.render(after, "test-gpu", entry({step: 0.01, key: 0.02, predict: 1e-5}), "full", 16, 1,
                    before=before)
    assert "not measured" not in text and "lower bound" not in text
    assert f"{81 * 46_920 * 0.02 / 3600 + 324 * 7_200_000 * 1e-5 / 3600:,.1f} h in GPU jobs" in text


def test_rl_vmap_pack_batches_the_updates_and_sale_packs_serially(config):
    from saidl.rl.grid import pack_family, run_configs

    cfg = packed(config, rl={"pack": 8, "pack_mode": "vmap"})
    runs = run_configs(cfg["rl"], "full")
    before = {j.name: j for j in P.plan_jobs(cfg, "full", ["rl"], packing=False)}
    after = P.plan_jobs(cfg, "full", ["rl"])
    assert sorted(r for j in after for r in (j.members or (j.name,))) == sorted(runs)
    sale = [j for j in after if any(runs[r]["sale"] for r in j.members)]
    assert sale and all(j.kind == "train pack (serial)" and "SALE" in j.note for j in sale)
    vmap = [j for j in after if j.kind == "train pack (vmap)"]
    assert vmap
    for j in vmap:
        c = runs[j.members[0]]
        key = f"rl.packed_update:{pack_family(c)}/h{c['hidden']}/b{c['batch_size']}/n{c['n_step']}/k{len(j.members)}"
        assert j.work[key] == c["total_steps"] - c["start_steps"]  # once per pack update step
        assert not any(k.startswith("rl.update:") for k in j.work)
        for part in ("env", "attack"):  # per member, as alone
            for k in {P.rl_keys(runs[r])[part] for r in j.members}:
                assert j.work[k] == sum(before[r].work.get(k, 0) for r in j.members)
    text = P.render(after, "test-gpu", entry({}), "full", 16, 1)
    assert "rl.packed_update:noisy/h256/b256/n3/k" in text and "not measured" in text


def test_paper_packs_follow_coreml_and_shared_runs_are_coreml_packs(config):
    from saidl.coreml.grid import run_configs as coreml_runs
    from saidl.paper.grid import run_configs, shared_runs

    cfg = packed(config, coreml={"pack": 8, "pack_mode": "vmap"})
    runs = run_configs(cfg["paper"], cfg["coreml"], "full")
    shared = shared_runs(runs, coreml_runs(cfg["coreml"], "full"))
    alone = P.plan_jobs(cfg, "full", ["paper"])
    coreml = by_task(alone, "coreml")
    assert coreml and set(shared.values()) <= {r for j in coreml for r in j.members}
    paper = by_task(alone, "paper")
    assert {r for j in paper for r in (j.members or (j.name,))} == set(runs) - set(shared)
    assert any(k.startswith("paper.packed_step:") for j in paper for k in j.work)
    both = P.plan_jobs(cfg, "full", ["coreml", "paper"])  # Core ML's packs costed once
    assert len(by_task(both, "coreml")) == len(P.plan_jobs(cfg, "full", ["coreml"]))


def test_no_configured_packs_after_equals_before(config):
    cfg = packed(config, **{t: {"pack": 1} for t in ("coreml", "ssm", "rl", "multimodal")})
    after = P.plan_jobs(cfg, "full", ["coreml", "rl"])
    before = P.plan_jobs(cfg, "full", ["coreml", "rl"], packing=False)
    assert after == before
    text = P.render(after, "test-gpu", entry({}), "full", 16, 1, before=before)
    assert "the configured scale packs no runs: after = before" in text


@pytest.mark.parametrize("packing, words, absent", [
    ("both", "Before and after packing", "Packing: none"),
    ("configured", "Summary on nvidia-h100", "Before and after packing"),
    ("none", "Packing: none (every scale's pack forced to 1", "Before and after packing"),
])
def test_packing_flag(packing, words, absent, capsys):
    assert P.main(["--tasks", "multimodal", "--packing", packing]) == 0
    out = capsys.readouterr().out
    assert words in out and absent not in out


def test_ssm_vmap_packs_batch_the_torch_models_and_keep_numpy_serial(config):
    from saidl.ssm.grid import run_configs

    cfg = packed(config, ssm={"pack": 3, "pack_mode": "vmap"})
    runs = run_configs(cfg["ssm"], "full")
    after = [j for j in P.plan_jobs(cfg, "full", ["ssm"]) if j.members]
    assert sorted(r for j in after for r in j.members) == sorted(runs)
    for j in after:
        first = runs[j.members[0]]
        if first["backend"] == "numpy":
            assert j.kind.endswith("(serial)") and "NumPy S4D" in j.note
        else:
            assert j.kind.endswith("(vmap)")
            key = P.ssm_packed_step_key(first, len(j.members))
            assert key.startswith("ssm.packed_step:") and key.endswith(f"/k{len(j.members)}")
            assert j.work[key] == first["epochs"] * -(-P.ssm_sizes(first)[0] // first["batch_size"])
            assert P.ssm_keys(first)[0] not in j.work  # the members' steps are the pack's, once
