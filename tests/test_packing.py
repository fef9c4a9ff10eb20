"""Packed training (tasks/training.smk, saidl.common.pack): K runs in one job, one process, each
member trained exactly as alone. The run JSONs of a pack equal those of the same runs trained one
per process (timings aside: exact equality, since each member runs the same code on the same
numbers); a failing member leaves the others' JSONs; the workflow makes one job per pack."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from saidl.common.config import load_yaml
from saidl.common.errors import ConfigError
from saidl.common.io import read_json
from saidl.common.workflow import packs

from conftest import HANG_TIMEOUT, REPO


# --- (1) which runs share a pack ----------------------------------------------------------------

def test_packs_group_by_key_and_split_evenly():
    runs = {f"{k}-{i}": {"k": k} for k in ("a", "b") for i in range(10)} | {"c-0": {"k": "c"}}
    got = packs(runs, 4, key=lambda cfg: cfg["k"])
    # 10 runs of a key in packs of at most 4: three packs of 4, 3, 3 (not 4, 4, 2); "c" is alone
    assert {name: len(ids) for name, ids in got.items()} == {"a_p0": 4, "a_p1": 3, "a_p2": 3,
                                                             "b_p0": 4, "b_p1": 3, "b_p2": 3}
    assert [r for name in ("a_p0", "a_p1", "a_p2") for r in got[name]] == [f"a-{i}" for i in range(10)]
    assert packs(runs, 1, key=lambda cfg: cfg["k"]) == {}  # K = 1: every run alone
    assert all(re.fullmatch(r"\w+", name) for name in packs({"x": {"k": "sym-0.4 x"}, "y": {"k": "sym-0.4 x"}},
                                                            8, key=lambda c: c["k"]))
    for bad in (0, -1, 2.5, "8"):
        with pytest.raises(ConfigError, match="pack must be a whole number"):
            packs(runs, bad, key=lambda cfg: cfg["k"])


# --- (2) a pack's members equal the same runs trained alone -------------------------------------

def _coreml_members():
    from saidl.coreml.grid import run_configs

    runs = run_configs(load_yaml(REPO / "tasks/coreml/config.yaml")["coreml"], "smoke")
    small = {"n_train": 300, "n_val": 100, "n_test": 200, "epochs": 2}
    return [{**runs[r], **small} for r in ("sym-0.8-CE-s0", "sym-0.8-NCE+RCE-s0")]


def _ssm_members():
    from saidl.ssm.grid import run_configs

    runs = run_configs(load_yaml(REPO / "tasks/ssm/config.yaml")["ssm"], "smoke")
    torch_runs = [c for c in runs.values() if c["backend"] == "torch"][:2]
    return [{**c, "n_train": 64, "n_val": 32, "n_test": 32} for c in torch_runs]


def _rl_members():
    from saidl.rl.grid import run_configs

    runs = run_configs(load_yaml(REPO / "tasks/rl/config.yaml")["rl"], "smoke")
    small = {"total_steps": 400, "start_steps": 200, "eval_every": 200}
    return [{**runs[r], **small} for r in ("td3-s0", "noisy-gaussian-s0")]


def _multimodal_members(tmp_path):
    """Two R-GCN runs of one decomposition (a pack's key) on the smoke scale's synthetic graph: the
    featureless "structure" set at two seeds, so that no encoder has to run first."""
    from saidl.multimodal.grid import run_configs, scale_config

    task_cfg = load_yaml(REPO / "tasks/multimodal/config.yaml")["multimodal"]
    data = _train(["saidl.multimodal.data", "--config-json", json.dumps(scale_config(task_cfg, "smoke")["data"]),
                   "--graph-dir", str(tmp_path / "graph"), "--out", str(tmp_path / "dataset.json")], REPO)
    assert data.returncode == 0, data.stderr[-3000:]
    (tmp_path / "features").mkdir()
    run = next(c for c in run_configs(task_cfg, "smoke").values() if c["feature_set"] == "structure")
    assert run["features"] == {}
    extra = ["--dataset", str(tmp_path / "dataset.json"), "--features-dir", str(tmp_path / "features")]
    return [run, {**run, "seed": run["seed"] + 1, "run_id": run["run_id"] + "-other-seed"}], extra


TASKS = {"saidl.coreml.train": _coreml_members, "saidl.ssm.train": _ssm_members, "saidl.rl.train": _rl_members,
         "saidl.multimodal.train": _multimodal_members}


def _without_timing(path):
    """The run JSON without its wall-clock measurements: the ``timing`` block, and any key that
    holds seconds (the R-GCN's per-epoch ``seconds`` and ``feature_seconds`` curves)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "timing" and "seconds" not in k}
        return [strip(v) for v in x] if isinstance(x, list) else x

    doc = read_json(path)
    assert "timing" in doc
    return strip(doc)


def _train(args, cwd):
    proc = subprocess.run([sys.executable, "-m", *args, "--threads", "1"], cwd=cwd, capture_output=True,
                          text=True, timeout=HANG_TIMEOUT)
    return proc


@pytest.mark.parametrize("module", sorted(TASKS))
def test_a_packed_member_equals_the_run_trained_alone(tmp_path, module):
    made = TASKS[module](tmp_path) if module == "saidl.multimodal.train" else TASKS[module]()
    cfgs, extra = made if isinstance(made, tuple) else (made, [])  # extra: arguments every member gets
    assert len(cfgs) == 2 and cfgs[0] != cfgs[1]
    ckpt = module != "saidl.multimodal.train"  # an R-GCN run (seconds) has no checkpoint
    members = [{"config": c, "out": str(tmp_path / f"pack-{i}.json"),
                "ckpt": str(tmp_path / f"pack-{i}.pt") if ckpt else None} for i, c in enumerate(cfgs)]
    packed = _train(["saidl.common.pack", module, "--members", json.dumps(members), *extra], REPO)
    assert packed.returncode == 0, packed.stderr[-3000:]
    assert "[pack 2/2]" in packed.stderr
    for i, cfg in enumerate(cfgs):
        alone = _train([module, "--config-json", json.dumps(cfg), "--out", str(tmp_path / f"alone-{i}.json"),
                        *(["--ckpt", str(tmp_path / f"alone-{i}.pt")] if ckpt else []), *extra], REPO)
        assert alone.returncode == 0, alone.stderr[-3000:]
        assert _without_timing(tmp_path / f"pack-{i}.json") == _without_timing(tmp_path / f"alone-{i}.json")
        assert not (tmp_path / f"pack-{i}.pt").exists()  # each member's checkpoint removed when it finished


def test_a_failing_member_does_not_stop_the_others(tmp_path):
    good, other = _coreml_members()
    bad = {**other, "loss": "NOT-A-LOSS", "run_id": "broken-run"}
    members = [{"config": bad, "out": str(tmp_path / "bad.json"), "ckpt": None},
               {"config": good, "out": str(tmp_path / "good.json"), "ckpt": None}]
    proc = _train(["saidl.common.pack", "saidl.coreml.train", "--members", json.dumps(members)], REPO)
    assert proc.returncode == 1
    assert "1 of 2 members of this pack failed: broken-run" in proc.stderr
    assert (tmp_path / "good.json").exists() and not (tmp_path / "bad.json").exists()


def test_bad_members_are_one_clear_error():
    proc = _train(["saidl.common.pack", "saidl.coreml.train", "--members", "[{\"out\": 3}]"], REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --members must be a non-empty JSON list")


# --- (3) the workflow: one job per pack, whose outputs are its members' run JSONs ---------------



def _dry(root, *config):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "results/smoke/coreml/summary.json",
                           "--cores", "1", "--config", "scale=smoke", *config],
                          cwd=root, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = []
    for line in proc.stdout.splitlines():
        if m := re.match(r"rule (\w+):$", line):
            jobs.append({"rule": m.group(1), "output": []})
        elif jobs and (m := re.match(r"    output: (.*)$", line)):
            jobs[-1]["output"] = m.group(1).split(", ")
    return [j for j in jobs if j["rule"].startswith("coreml_train")]


def test_the_workflow_makes_one_job_per_pack(workflow_copy):
    from saidl.coreml.grid import run_configs

    runs = run_configs(load_yaml(workflow_copy / "tasks/coreml/config.yaml")["coreml"], "smoke")
    alone = _dry(workflow_copy)
    assert len(alone) == len(runs) and {j["rule"] for j in alone} == {"coreml_train"}

    # pack: 8 in the smoke block (via --config, which Snakemake merges into the task's block)
    text = (workflow_copy / "tasks/coreml/config.yaml").read_text()
    (workflow_copy / "tasks/coreml/config.yaml").write_text(
        text.replace("    smoke:   # the tests and CI: seconds per run\n",
                     "    smoke:   # the tests and CI: seconds per run\n      pack: 8\n", 1))
    packed = _dry(workflow_copy)
    settings = {(c["noise"], c["eta"]) for c in runs.values()}
    assert len(packed) == len(settings) and all(j["rule"].startswith("coreml_train_") for j in packed)
    outs = sorted(o for j in packed for o in j["output"])
    assert outs == sorted(f"results/smoke/coreml/runs/{r}.json" for r in runs)
    for j in packed:  # one noise setting per pack
        assert len({tuple(o.split("/")[-1].split("-")[:2]) for o in j["output"]}) == 1


def test_a_profile_s_resources_for_one_run_reach_its_packs(workflow_copy):
    """`set-resources` names rules, and a pack's rule name is generated: what the one-run rule
    `coreml_train` gets (profiles/slurm: runtime, memory) its packs get, the runtime times K."""
    text = (workflow_copy / "tasks/coreml/config.yaml").read_text()
    (workflow_copy / "tasks/coreml/config.yaml").write_text(
        text.replace("    smoke:   # the tests and CI: seconds per run\n",
                     "    smoke:   # the tests and CI: seconds per run\n      pack: 8\n", 1))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "results/smoke/coreml/summary.json", "--cores", "1",
                           "--set-resources", "coreml_train:runtime=30", "coreml_train:mem_mb=1000",
                           "--config", "scale=smoke"], cwd=workflow_copy, capture_output=True, text=True,
                          timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    blocks = [b for b in proc.stdout.split("\nrule ") if b.startswith("coreml_train_")]
    assert blocks
    for block in blocks:
        k = len(re.search(r"^    output: (.*)$", block, re.M).group(1).split(", "))
        resources = re.search(r"^    resources: (.*)$", block, re.M).group(1)
        assert k > 1 and f"runtime={30 * k}" in resources and "mem_mb=1000" in resources, block


# --- (4) pack_mode vmap: one batched model (saidl.coreml.packed) -------------------------------

def _paper_members():
    """Three paper runs that share a pack key at the smoke scale: ANL-CE (whose L1 penalty reads
    the member's own parameters) twice and NCE+MAE; two epochs on a small subset."""
    from saidl.coreml.grid import pack_key
    from saidl.paper.grid import run_configs

    runs = run_configs(load_yaml(REPO / "tasks/paper/config.yaml")["paper"],
                       load_yaml(REPO / "tasks/coreml/config.yaml")["coreml"], "smoke")
    ids = ("main-sym-0.8-ANL-CE-s0", "ablation-sym-0.8-NCE+MAE_ANL_setting-s0", "sensitivity-sym-0.8-ANL-CE-a10-b5-s0")
    assert len({pack_key(runs[r]) for r in ids}) == 1
    small = {"n_train": 300, "n_val": 100, "n_test": 200, "epochs": 2}
    return [{**runs[r], **small} for r in ids]


def _paper_cnn_members():
    """Two of :func:`_paper_members` (ANL-CE, whose L1 penalty reads the member's parameters, and
    NCE+MAE) with the full scale's 8-layer CNN and augmentation instead of the smoke scale's MLP,
    on 200 images (two batches, the second short) for two epochs."""
    small = {"model": "cnn8", "augment": True, "n_train": 200, "n_val": 100, "n_test": 100}
    return [{**c, **small} for c in _paper_members()[:2]]


# The MLP's pack (smoke scale; ``bmm``, and ``vmap`` for the CNN on a GPU): batched matmuls sum in
# another order than the alone run's, so the numbers agree to float32 rounding, not bit for bit:
# per-epoch training losses within 1e-4 (relative), and accuracies equal up to one sample of the
# evaluated split in two epochs. The CNN's pack on a CPU (``loop``) runs each member's own
# operations on the same numbers, so it is tested for exact equality instead.
LOSS_RTOL = 1e-4
ACC_ATOL = 0.011  # one sample of the smallest evaluated set (100 validation images)


def _agree(packed: dict, alone: dict) -> None:
    pm, am = packed["metrics"], alone["metrics"]
    assert pm["train_loss"] == pytest.approx(am["train_loss"], rel=LOSS_RTOL)
    for key in ("test_acc", "val_acc", "train_clean_acc", "train_noisy_fit"):
        assert pm[key] == pytest.approx(am[key], abs=ACC_ATOL), key
    assert packed["config"] == alone["config"] and packed["noise"] == alone["noise"]


def test_a_vmap_pack_agrees_with_the_runs_trained_alone(tmp_path):
    cfgs = _paper_members()
    spec = [{"config": c, "out": str(tmp_path / f"pack-{i}.json"), "ckpt": None} for i, c in enumerate(cfgs)]
    packed = _train(["saidl.common.pack", "saidl.coreml.train", "--members", json.dumps(spec), "--mode", "vmap",
                     "--pack-ckpt", str(tmp_path / "pack.pt")], REPO)
    assert packed.returncode == 0, packed.stderr[-3000:]
    assert not (tmp_path / "pack.pt").exists()
    for i, cfg in enumerate(cfgs):
        alone = _train(["saidl.coreml.train", "--config-json", json.dumps(cfg), "--out", str(tmp_path / f"a{i}.json")],
                       REPO)
        assert alone.returncode == 0, alone.stderr[-3000:]
        doc = read_json(tmp_path / f"pack-{i}.json")
        assert doc["timing"]["packed"] == {"mode": "vmap", "members": len(cfgs), "batched": "bmm"}
        _agree(doc, read_json(tmp_path / f"a{i}.json"))


def test_a_cpu_vmap_pack_of_cnns_equals_the_runs_trained_alone(tmp_path):
    """On a CPU a CNN pack runs each member's forward on its own slices (``batched: loop``): its
    members' run JSONs equal the runs trained alone bit for bit, timings aside."""
    cfgs = _paper_cnn_members()
    spec = [{"config": c, "out": str(tmp_path / f"pack-{i}.json"), "ckpt": None} for i, c in enumerate(cfgs)]
    packed = _train(["saidl.common.pack", "saidl.coreml.train", "--members", json.dumps(spec), "--mode", "vmap",
                     "--pack-ckpt", str(tmp_path / "pack.pt")], REPO)
    assert packed.returncode == 0, packed.stderr[-3000:]
    for i, cfg in enumerate(cfgs):
        alone = _train(["saidl.coreml.train", "--config-json", json.dumps(cfg), "--out", str(tmp_path / f"a{i}.json")],
                       REPO)
        assert alone.returncode == 0, alone.stderr[-3000:]
        assert read_json(tmp_path / f"pack-{i}.json")["timing"]["packed"] == {"mode": "vmap", "members": 2,
                                                                              "batched": "loop"}
        assert _without_timing(tmp_path / f"pack-{i}.json") == _without_timing(tmp_path / f"a{i}.json")


def test_a_vmap_packs_batched_path_is_a_rule_by_model_and_device():
    import torch

    from saidl.coreml.models import build_model
    from saidl.coreml.packed import batched_path

    mlp, cnn = build_model("mlp", 1, 10, 28), build_model("cnn8", 3, 10, 32)
    assert [batched_path(m, torch.device(d)) for m in (mlp, cnn) for d in ("cpu", "cuda")] == \
        ["bmm", "bmm", "loop", "vmap"]


@pytest.mark.parametrize("model", ["mlp", "cnn8"])
def test_a_diverging_vmap_member_does_not_poison_the_others(tmp_path, one_torch_thread, model):
    import torch

    from saidl.coreml import packed as P
    from saidl.coreml.train import prepare, run

    cfgs = _coreml_members()
    if model == "cnn8":  # batched: loop on the CPU, exact
        cfgs = [{**c, "model": "cnn8", "n_train": 200, "n_val": 100, "n_test": 100} for c in cfgs]
    device = torch.device("cpu")
    trainer = P.PackedTrainer(cfgs, [prepare(c, device) for c in cfgs], device)
    assert trainer.batched == {"mlp": "bmm", "cnn8": "loop"}[model]
    with torch.no_grad():
        for p in trainer.params.values():
            p[0].fill_(float("nan"))  # member 0 diverged
    trainer.fit()
    sick, well = (m.history for m in trainer.members)
    assert all(x != x for x in sick["train_loss"])  # NaN
    alone = run(cfgs[1], tmp_path / "alone.json")["metrics"]
    if model == "cnn8":
        assert {k: well[k] for k in alone if k in well and k != "epoch_time_s"} == \
            {k: alone[k] for k in alone if k in well and k != "epoch_time_s"}
    else:
        assert well["train_loss"] == pytest.approx(alone["train_loss"], rel=LOSS_RTOL)
        assert well["test_acc"] == pytest.approx(alone["test_acc"], abs=ACC_ATOL)


def test_a_vmap_pack_refuses_members_that_cannot_stack(tmp_path):
    a, b = _coreml_members()
    spec = [{"config": a, "out": str(tmp_path / "a.json")}, {"config": {**b, "lr": 0.5}, "out": str(tmp_path / "b.json")}]
    proc = _train(["saidl.common.pack", "saidl.coreml.train", "--members", json.dumps(spec), "--mode", "vmap"], REPO)
    assert proc.returncode == 2
    assert "differ in 'lr'" in proc.stderr and "pack_mode: serial" in proc.stderr
    bf16 = [{**m, "config": {**m["config"], "precision": "bf16"}} for m in spec[:1]] * 2
    proc = _train(["saidl.common.pack", "saidl.coreml.train", "--members", json.dumps(bf16), "--mode", "vmap"], REPO)
    assert proc.returncode == 2 and "fp32 only" in proc.stderr and not (tmp_path / "a.json").exists()
    proc = _train(["saidl.common.pack", "saidl.multimodal.train", "--members", json.dumps(spec), "--mode", "vmap"],
                  REPO)
    assert proc.returncode == 2 and "no batched trainer (saidl.multimodal.packed)" in proc.stderr


def test_pack_mode_vmap_reaches_the_job_command(workflow_copy):
    text = (workflow_copy / "tasks/coreml/config.yaml").read_text()
    (workflow_copy / "tasks/coreml/config.yaml").write_text(
        text.replace("    smoke:   # the tests and CI: seconds per run\n",
                     "    smoke:   # the tests and CI: seconds per run\n      pack: 8\n      pack_mode: vmap\n", 1))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "results/smoke/coreml/summary.json",
                           "--cores", "1", "--config", "scale=smoke"], cwd=workflow_copy, capture_output=True,
                          text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cmds = [line for line in proc.stdout.splitlines() if "saidl.common.pack" in line]
    assert cmds and all("--mode vmap --pack-ckpt results/smoke/coreml/ckpt/pack-" in c for c in cmds)


def test_a_vmap_pack_resumes_from_its_checkpoint_and_ignores_another_layout(tmp_path, one_torch_thread):
    """The MLP's weights are stacked transposed, (K, in, out): a pack stopped after one epoch and
    resumed gives the uninterrupted pack's numbers exactly; a checkpoint whose weights were stacked
    in another layout (an older version) is not loaded into the wrong shapes but trained afresh."""
    import torch

    from saidl.coreml import packed as P

    cfgs = _coreml_members()
    whole = P.run_packed(cfgs, [tmp_path / "w0.json", tmp_path / "w1.json"])
    ckpt = tmp_path / "pack.pt"
    assert P.run_packed(cfgs, [tmp_path / "r0.json", tmp_path / "r1.json"], ckpt, stop_after=1) is None
    state = torch.load(ckpt, weights_only=False)
    assert state["transposed"] and all(state["params"][k].shape[1] > state["params"][k].shape[2]
                                       for k in state["transposed"] if k.endswith("1.weight"))  # (K, 784, h)
    resumed = P.run_packed(cfgs, [tmp_path / "r0.json", tmp_path / "r1.json"], ckpt)
    for a, b in zip(whole, resumed):
        assert a["metrics"] == b["metrics"]
    assert not ckpt.exists()
    P.run_packed(cfgs, [tmp_path / "o0.json", tmp_path / "o1.json"], ckpt, stop_after=1)
    state = torch.load(ckpt, weights_only=False)
    state["transposed"] = []  # as an older version wrote it
    torch.save(state, ckpt)
    again = P.run_packed(cfgs, [tmp_path / "o0.json", tmp_path / "o1.json"], ckpt)
    for a, b in zip(whole, again):
        assert a["metrics"] == b["metrics"]


def test_a_cnn_pack_resumes_across_the_loop_and_vmap_paths(tmp_path, one_torch_thread, capsys):
    """A CNN pack's checkpoint stacks its tensors alike on both paths: one stopped after an epoch
    on the ``vmap`` path (a GPU's) resumes on the CPU's ``loop`` path, the first epoch's numbers
    those of the checkpoint."""
    import torch

    from saidl.coreml import packed as P

    cfgs = [{**c, "epochs": 2} for c in _paper_cnn_members()]
    ckpt, outs = tmp_path / "pack.pt", [tmp_path / "c0.json", tmp_path / "c1.json"]
    assert P.run_packed(cfgs, outs, ckpt, stop_after=1, batched="vmap") is None
    state = torch.load(ckpt, weights_only=False)
    assert state["transposed"] == [] and state["epoch"] == 1
    docs = P.run_packed(cfgs, outs, ckpt)
    assert "training the pack afresh" not in capsys.readouterr().err
    for doc, h in zip(docs, state["histories"]):
        assert doc["timing"]["packed"]["batched"] == "loop"
        assert doc["metrics"]["train_loss"][0] == h["train_loss"][0]
        assert doc["metrics"]["test_acc"][0] == h["test_acc"][0] and len(doc["metrics"]["test_acc"]) == 2
    assert not ckpt.exists()
