"""The cost plan: every costed job of a scale, its device-hours and the wall time on given resources.

    python -m saidl.plan --scale full --device nvidia-h100 --cores 16 --gpus 1

Jobs come from the task grids (``saidl.<task>.grid``) with the task configs loaded as Snakemake
loads them (config/config.yaml, then tasks/*/config.yaml). A job is a list of *work items*: a
number of steps of one cost kind, counted from the job's config (epochs x batches per epoch from
the dataset sizes, environment steps, DiT steps, sampling steps x images, ...). A cost kind's key
names what its cost depends on, e.g. ``coreml.train_step:cnn8/cifar10/b128``; the part before
the colon fixes the unit of one step (``UNITS``).

Per-step seconds come from a calibration file (benchmarks/calibration.json) that
scripts/gpu_check.sh writes: one entry per device with its torch version, date, source and the
seconds of each kind it measured. A kind without a measurement on the named device is printed as
"not measured" and counted as zero; the task and the total then say "incomplete", and the hours
and the wall time are lower bounds.

Packing: a scale block's ``pack: K`` (and ``pack_mode``) makes K runs of one pack key one job, as
the training rules do (tasks/training.smk, ``saidl.common.workflow.packs``, each task's
``grid.pack_key``). A serial pack's work is the sum of its members' (the start-up it saves is not
modelled); a vmap pack (Core ML, paper, RL) costs its training steps by a packed kind that times one
batched step of all K members (``coreml.packed_step:.../k8``, ``rl.packed_update:.../k8``), counted
once per pack step, and its evaluation per member. ``--packing both`` (the default) prints the
configured plan and ends with the protocol before packing (every pack forced to 1) against after.

Wall time: a list schedule (longest job first among the jobs whose inputs are done) in which a job
holds min(threads, cores) cores and, if Snakemake gives it a GPU, one of the GPUs; with --gpus 0
the GPU jobs run on the cores alone. Only the costed jobs below are scheduled; the report jobs
(grid, collect, figures, tables, LaTeX), the data downloads and the EDA are not costed.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from saidl.common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION = ROOT / "benchmarks" / "calibration.json"
TASKS = ("coreml", "ssm", "rl", "diffusion", "paper", "multimodal")
ALL_CORES = 1 << 30  # the threads of a timing job that reserves every core (threads: workflow.cores)

# The unit of one step of each cost kind (the key's part before the colon).
UNITS = {
    "coreml.train_step": "one SGD step (forward, backward, update, augmentation) on one batch of the run's batch size",
    "coreml.predict_image": "one image through the model in eval mode (each epoch scores the train, val and test images)",
    "coreml.packed_step": "one batched SGD step of a vmap pack of K members, one batch each",
    "paper.train_step": "one SGD step of the Core ML trainer with the run's loss on one batch",
    "paper.packed_step": "one batched SGD step of a vmap pack of K members, one batch each",
    "paper.predict_image": "one image through the model in eval mode (each epoch scores the train, val and test images)",
    "ssm.train_step": "one AdamW step on one batch of sequences",
    "ssm.predict_sequence": "one sequence through the model in eval mode (validation and test after each epoch)",
    "ssm.analysis": "the whole analysis job (discretisation study or kernel timing)",
    "rl.env_step": "one environment step with the actor's action (training, evaluation and attacked episodes)",
    "rl.update": "one TD3 update: prioritized sample, critic (and each policy_delay-th actor) step, priority update",
    "ssm.packed_step": "one batched AdamW step of an SSM vmap pack of K seeds of one model, one batch each",
    "rl.packed_update": "one batched TD3 update of a pack of K members: K prioritized samples, one stacked critic "
                        "step and every policy_delay-th actor step, K priority updates",
    "rl.critic_attack": "the critic-gradient attack on one observation (attack_steps gradient steps)",
    "diffusion.autoencoder": "the whole autoencoder training job (demo and smoke codec)",
    "diffusion.train_latent": "one latent of one AdamW+EMA DiT training step (seconds per step / batch size)",
    "diffusion.vae_encode": "one image encoded to a latent by the codec",
    "diffusion.vae_decode": "one latent decoded to an image by the codec",
    "diffusion.forward": "one latent through one DiT forward pass without gradients (a guided step counts two)",
    "diffusion.embed": "one generated or reference image embedded by the named embedder",
    "multimodal.prepare": "loading the graph and cutting the 2-hop subgraph of the labelled nodes (once per job)",
    "multimodal.features": "one literal node encoded into its features",
    "multimodal.train_epoch": "one full-batch R-GCN epoch on the 2-hop subgraph (training step and scores of all splits)",
    "multimodal.finetune": "the whole joint fine-tuning job",
}

# Sizes of the real datasets (train, test), for the runs whose config says "all" (n_train null).
DATASETS = {
    "cifar10": (50_000, 10_000),        # torchvision CIFAR-10
    "cifar10_gray": (50_000, 10_000),   # LRA Image: CIFAR-10 in grey; train = first 90 %, validation the rest
    "fashion_mnist": (60_000, 10_000),
}
SEQ_LENGTH = {"cifar10_gray": 1024, "fashion_mnist": 784}
# Unique literal nodes of dmg777k per modality, as in the dmg777k-sized graph of
# saidl.multimodal.synth (kgbench-data raw/stats, /work/shared/reference/kgbench.md: 46,108 images,
# 20,866 geometries, 195,468 unique literals; text = the unique literals left after the other
# datatypes). Upper bounds: the features step encodes those within 2 hops of the labelled nodes.
DMG777K_LITERALS = {"image": 46_108, "text": 46_217, "numeric": 8_698, "temporal": 800, "spatial": 20_866}


def unit(key: str) -> str:
    return UNITS[key.split(":", 1)[0]]


# ------------------------------------------------------------------------------------ config


def load_config(root: Path = ROOT) -> dict:
    """config/config.yaml, then every tasks/<task>/config.yaml over it (top-level keys), as the
    Snakefile's configfile directives do."""
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text()) or {}
    for task in TASKS:
        cfg.update(yaml.safe_load((root / "tasks" / task / "config.yaml").read_text()) or {})
    return cfg


def on_gpu(device: str, scale: str) -> bool:
    """Whether Snakemake gives a job of this device setting a GPU (the rules' resources)."""
    return device.startswith("cuda") or (device == "auto" and scale == "full")


# ------------------------------------------------------------------------------------ jobs


@dataclass
class Job:
    task: str
    kind: str                      # job kind, e.g. "train run"
    name: str                      # unique within the task
    gpu: bool
    threads: int
    work: dict[str, float | None]  # cost kind -> steps (None: the count is unknown here)
    after: tuple[str, ...] = ()    # names (task/name) of the costed jobs it reads
    note: str = ""
    members: tuple[str, ...] = ()  # the run ids of a pack (a job that trains one run: none)
    seconds: float = 0.0           # filled in by cost()
    missing: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.task}/{self.name}"


def add(work: dict, key: str, n: float | None) -> None:
    if n is None or work.get(key, 0) is None:
        work[key] = None
    elif n:
        work[key] = work.get(key, 0) + n


def trainer_sizes(cfg: dict) -> tuple[int, int, int]:
    """(train, val, test) images of a Core ML trainer run (val is carved out of the train set)."""
    n_train_all, n_test_all = DATASETS[cfg["dataset"]]
    n_val = cfg.get("n_val") or 0
    n_train = cfg["n_train"] if cfg.get("n_train") is not None else n_train_all - n_val
    return n_train, n_val, cfg["n_test"] if cfg.get("n_test") is not None else n_test_all


def trainer_keys(task: str, cfg: dict) -> tuple[str, str]:
    return (f"{task}.train_step:{cfg['model']}/{cfg['dataset']}/b{cfg['batch_size']}",
            f"{task}.predict_image:{cfg['model']}/{cfg['dataset']}")


def trainer_job(task: str, rid: str, cfg: dict, gpu: bool, threads: int) -> Job:
    n_train, n_val, n_test = trainer_sizes(cfg)
    step, predict = trainer_keys(task, cfg)
    work: dict = {}
    add(work, step, cfg["epochs"] * math.ceil(n_train / cfg["batch_size"]))
    add(work, predict, cfg["epochs"] * (n_train + n_val + n_test))
    return Job(task, "train run", rid, gpu, threads, work)


def packed_step_key(task: str, cfg: dict, k: int) -> str:
    """The packed kind of a Core ML-trainer vmap pack of ``k`` members (they share model, data and batch)."""
    return f"{task}.packed_step:{cfg['model']}/{cfg['dataset']}/b{cfg['batch_size']}/k{k}"


def trainer_vmap_work(task: str):
    """A Core ML-trainer vmap pack (saidl.coreml.packed): one batched step of all members per pack
    step (epochs x batches, not times K), and each member's evaluation as alone."""
    def work(cfgs: list[dict], members: list[Job]) -> dict:
        out: dict = {}
        n_train = max(trainer_sizes(c)[0] for c in cfgs)
        add(out, packed_step_key(task, cfgs[0], len(cfgs)),
            max(c["epochs"] for c in cfgs) * math.ceil(n_train / cfgs[0]["batch_size"]))
        for c in cfgs:
            add(out, trainer_keys(task, c)[1], c["epochs"] * sum(trainer_sizes(c)))
        return out
    return work


SERIAL_NOTE = "members one after another in one process: their work summed (the start-up saved is not modelled)"
VMAP_NOTE = "one batched model: a packed step per pack step for all members"


def pack_settings(sc: dict, packing: bool, vmap: bool) -> tuple[int, str]:
    """(pack, pack_mode) of a scale block as the training rules read them; ``packing`` False forces
    pack 1. A task whose rules have no vmap trainer (``vmap`` False) packs serially."""
    if not packing:
        return 1, "serial"
    mode = sc.get("pack_mode") or "serial"
    return sc.get("pack", 1), mode if vmap else "serial"


def packed_jobs(task: str, jobs: dict[str, Job], runs: dict[str, dict], sc: dict, key, packing: bool,
                vmap_work=None) -> list[Job]:
    """The training jobs of ``runs`` (run id -> config; ``jobs``: run id -> its job alone) as the
    workflow runs them (tasks/training.smk): the runs of each pack of ``saidl.common.workflow.packs``
    (``pack`` of the scale block ``sc``, the task's ``pack_key``) are one job, named as its rule,
    ``<task>_train_<pack>``; the others stay one job each. A serial pack's work is its members'
    summed; a vmap pack's is ``vmap_work(configs, member jobs)``, or serial where that returns a
    reason (a str) instead."""
    from saidl.common.workflow import packs

    k, mode = pack_settings(sc, packing, vmap_work is not None)
    groups = packs(runs, k, key)
    first = {m[0]: (name, m) for name, m in groups.items()}
    in_pack = {r for m in groups.values() for r in m}
    out = []
    for rid in runs:
        if rid in first:
            name, ids = first[rid]
            members, cfgs = [jobs[r] for r in ids], [runs[r] for r in ids]
            work = vmap_work(cfgs, members) if mode == "vmap" else None
            if isinstance(work, dict):
                how, note = "vmap", VMAP_NOTE
            else:
                how, note, work = "serial", SERIAL_NOTE + (f"; {work}" if work else ""), {}
                for m in members:
                    for key_, n in m.work.items():
                        add(work, key_, n)
            kind = members[0].kind.replace(" run", " pack") + f" ({how})"
            out.append(Job(task, kind, f"{task}_train_{name}", any(m.gpu for m in members), members[0].threads,
                           work, tuple(dict.fromkeys(a for m in members for a in m.after)),
                           "; ".join(x for x in (members[0].note, note) if x), members=tuple(ids)))
        elif rid not in in_pack:
            out.append(jobs[rid])
    return out


def coreml_jobs(config: dict, scale: str, packing: bool = True) -> list[Job]:
    from saidl.coreml.grid import pack_key, run_configs, scale_config

    sc = scale_config(config["coreml"], scale)
    runs = run_configs(config["coreml"], scale)
    jobs = {rid: trainer_job("coreml", rid, cfg, on_gpu(sc["device"], scale), sc["threads"])
            for rid, cfg in runs.items()}
    return packed_jobs("coreml", jobs, runs, sc, pack_key, packing, trainer_vmap_work("coreml"))


def paper_jobs(config: dict, scale: str, packing: bool = True) -> list[Job]:
    """The paper's training jobs; a run shared with Core ML (saidl.paper.grid.shared_runs) is
    Core ML's job (with packing: the Core ML pack that trains it), as in the workflow, costed once
    where both tasks are planned. The paper's own runs pack by Core ML's scale block
    (tasks/paper/rules.smk)."""
    from saidl.coreml.grid import pack_key
    from saidl.coreml.grid import run_configs as coreml_runs
    from saidl.coreml.grid import scale_config as coreml_scale
    from saidl.paper.grid import run_configs, shared_runs

    sc = coreml_scale(config["coreml"], scale)
    runs = run_configs(config["paper"], config["coreml"], scale)
    shared = shared_runs(runs, coreml_runs(config["coreml"], scale))
    needed = set(shared.values())
    coreml = [j for j in coreml_jobs(config, scale, packing) if j.name in needed or needed & set(j.members)]
    own = {rid: cfg for rid, cfg in runs.items() if rid not in shared}
    jobs = {rid: trainer_job("paper", rid, cfg, cfg["device"] != "cpu" and on_gpu(sc["device"], scale), sc["threads"])
            for rid, cfg in own.items()}
    return coreml + packed_jobs("paper", jobs, own, sc, pack_key, packing, trainer_vmap_work("paper"))


def ssm_sizes(cfg: dict) -> tuple[int, int, int]:
    n_train_all, n_test_all = DATASETS[cfg["dataset"]]
    if cfg["dataset"] == "cifar10_gray":  # LRA: train[:90 %], validation train[90 %:]
        cut = int(0.9 * n_train_all)
        n_train = cut if cfg["n_train"] is None else min(cfg["n_train"], cut)
        n_val = min(cfg["n_val"], n_train_all - cut)
    else:
        n_val = cfg["n_val"]
        n_train = cfg["n_train"] if cfg["n_train"] is not None else n_train_all - n_val
    return n_train, n_val, cfg["n_test"] if cfg["n_test"] is not None else n_test_all


def ssm_keys(cfg: dict) -> tuple[str, str]:
    arch = f"{cfg['model']}/d{cfg['d_model']}x{cfg['n_layers']}/n{cfg['d_state']}/L{SEQ_LENGTH[cfg['dataset']]}"
    return f"ssm.train_step:{arch}/b{cfg['batch_size']}", f"ssm.predict_sequence:{arch}"


def ssm_analysis_key(name: str, sc: dict) -> str:
    return f"ssm.analysis:{name}/" + ",".join(str(n) for n in sc["timing_lengths"]) + \
        f"/n{sc['timing_state']}/c{sc['timing_channels']}"


def ssm_packed_step_key(cfg: dict, k: int) -> str:
    """The packed kind of an SSM vmap pack of ``k`` seeds of one model (saidl.ssm.packed)."""
    return ssm_keys(cfg)[0].replace("ssm.train_step:", "ssm.packed_step:") + f"/k{k}"


def ssm_vmap_work(cfgs: list[dict], members: list[Job]) -> dict | str:
    """An SSM vmap pack: one batched AdamW step of all members per pack step, each member's scoring
    as alone. NumPy S4D packs train serially."""
    from saidl.ssm.grid import pack_mode

    if pack_mode(cfgs, "vmap") != "vmap":
        return "the NumPy S4D packs serially also in vmap mode"
    out: dict = {}
    step = ssm_keys(cfgs[0])[0]
    for c, m in zip(cfgs, members):
        for key, n in m.work.items():
            if key != step:
                add(out, key, n)
            elif c is cfgs[0]:
                add(out, ssm_packed_step_key(c, len(cfgs)), n)
    return out


def ssm_jobs(config: dict, scale: str, packing: bool = True) -> list[Job]:
    from saidl.ssm.grid import pack_key, run_configs, scale_config

    sc = scale_config(config["ssm"], scale)
    runs = run_configs(config["ssm"], scale)
    alone: dict[str, Job] = {}
    for rid, cfg in runs.items():
        n_train, n_val, n_test = ssm_sizes(cfg)
        step, predict = ssm_keys(cfg)
        work: dict = {}
        add(work, step, cfg["epochs"] * math.ceil(n_train / cfg["batch_size"]))
        numpy = cfg["backend"] == "numpy"  # scores the test set each epoch, validation once
        add(work, predict, cfg["epochs"] * n_test + n_val if numpy else cfg["epochs"] * (n_val + n_test))
        alone[rid] = Job("ssm", "NumPy train run" if numpy else "train run", rid,
                         not numpy and on_gpu(sc["device"], scale), sc["threads"], work)
    jobs = packed_jobs("ssm", alone, runs, sc, pack_key, packing, ssm_vmap_work)
    for name in ("discretisation", "timing"):
        jobs.append(Job("ssm", "analysis", name, False, 1, {ssm_analysis_key(name, sc): 1}))
    return jobs


def rl_keys(cfg: dict) -> dict[str, str]:
    h = f"h{cfg['hidden']}"
    return {"env": f"rl.env_step:{cfg['env_id']}/{cfg['variant']}/{h}",
            "update": f"rl.update:{cfg['variant']}/{h}/b{cfg['batch_size']}/n{cfg['n_step']}",
            "attack": f"rl.critic_attack:{cfg['env_id']}/{cfg['variant']}/{h}/k{cfg['attack_steps']}"}


def rl_packed_update_key(cfg: dict, k: int) -> str:
    """The packed kind of an RL vmap pack of ``k`` members of one network family (td3, noisy)."""
    from saidl.rl.grid import pack_family

    return f"rl.packed_update:{pack_family(cfg)}/h{cfg['hidden']}/b{cfg['batch_size']}/n{cfg['n_step']}/k{k}"


def rl_vmap_work(cfgs: list[dict], members: list[Job]) -> dict | str:
    """An RL vmap pack: one batched TD3 update of all members per update step (counted once per
    pack), each member's environment steps and attacks as alone. SALE runs pack serially."""
    from saidl.rl.grid import pack_mode

    if pack_mode(cfgs, "vmap") != "vmap":
        return "SALE runs pack serially also in vmap mode"
    out: dict = {}
    for c, m in zip(cfgs, members):
        update = rl_keys(c)["update"]
        for key, n in m.work.items():
            if key == update:
                if c is cfgs[0]:
                    add(out, rl_packed_update_key(c, len(cfgs)),
                        max(max(0, x["total_steps"] - x["start_steps"]) for x in cfgs))
            else:
                add(out, key, n)
    return out


def rl_jobs(config: dict, scale: str, packing: bool = True) -> list[Job]:
    from saidl.rl.grid import pack_key, run_configs, scale_config

    sc = scale_config(config["rl"], scale)
    runs = run_configs(config["rl"], scale)
    jobs = {}
    for rid, cfg in runs.items():
        keys, ep = rl_keys(cfg), cfg["max_episode_steps"]
        attacked = sum(1 for e in cfg["attack_eps"] if e > 0) if cfg.get("attack", True) else 0
        env_steps = (cfg["total_steps"]
                     + cfg["eval_episodes"] * ep                                         # random-policy floor
                     + cfg["total_steps"] // cfg["eval_every"] * cfg["eval_episodes"] * ep  # evaluations
                     + (len(cfg["attack_eps"]) * 2 * cfg["attack_episodes"] * ep          # robustness
                        if cfg.get("attack", True) else 0)
                     + (cfg.get("probe_episodes", 0) * ep if cfg.get("sale") else 0))     # SALE probes
        work: dict = {}
        add(work, keys["env"], env_steps)
        add(work, keys["update"], max(0, cfg["total_steps"] - cfg["start_steps"]))
        add(work, keys["attack"], attacked * cfg["attack_episodes"] * ep)
        jobs[rid] = Job("rl", "train run", rid, on_gpu(sc["device"], scale), sc["threads"], work,
                        note="episodes counted at max_episode_steps (an upper bound)")
    return packed_jobs("rl", jobs, runs, sc, pack_key, packing, rl_vmap_work)


def dit_tag(cfg: dict) -> str:
    return f"h{cfg['hidden_size']}x{cfg['depth']}/p{cfg['patch_size']}/{cfg['image_size']}px"


def attention_tag(attention: str, window: int | None) -> str:
    return f"sliding-w{window}" if attention == "sliding" else attention


def diffusion_keys(cfg: dict, attention: str | None = None) -> dict[str, str]:
    """Cost keys of a DiT run config (``attention`` overrides the run's, for the backend timing)."""
    att = attention_tag(attention or cfg["attention"], cfg.get("window") if attention in (None, "sliding") else None)
    if (attention or cfg["attention"]) == "sliding" and not cfg.get("window"):
        raise ConfigError("a sliding-window DiT needs a window")
    arch = f"{cfg['conditioning']}/{att}/{dit_tag(cfg)}"
    codec = cfg.get("vae_id", cfg["codec"]) if cfg["codec"] != "autoencoder" else "autoencoder"
    return {"train": f"diffusion.train_latent:{arch}", "forward": f"diffusion.forward:{arch}",
            "encode": f"diffusion.vae_encode:{codec}/{cfg['image_size']}px",
            "decode": f"diffusion.vae_decode:{codec}/{cfg['image_size']}px"}


def embed_key(name: str) -> str:
    return f"diffusion.embed:{name}"


def diffusion_train_images(cfg: dict) -> int | None:
    """Training images a DiT run encodes once (None: a landscapes folder that is not here)."""
    from saidl.diffusion.data import IMAGE_SUFFIXES, LANDSCAPE_HELD_OUT

    if cfg.get("n_train"):
        return cfg["n_train"]
    if cfg["dataset"] == "sun397":
        return cfg["sun397_classes"] * cfg["sun397_per_class"]
    if cfg["dataset"] == "landscapes":
        folder = ROOT / cfg["landscape_dir"]
        if not folder.is_dir():
            return None
        n = sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return n - n // LANDSCAPE_HELD_OUT  # the data reader holds out a seeded fifth, whatever n_reference is
    return None


def diffusion_jobs(config: dict, scale: str, packing: bool = True) -> list[Job]:
    """The diffusion jobs (no packing: its rules train one run per job)."""
    from saidl.diffusion.attention import BACKENDS
    from saidl.diffusion.grid import autoencoder_configs, eval_config, reference_configs, run_configs, scale_config

    tc = config["diffusion"]
    sc = scale_config(tc, scale)
    gpu, threads = on_gpu(sc["device"], scale), sc["threads"]
    runs, ev = run_configs(tc, scale), eval_config(tc, scale, "evaluation")
    jobs = []
    for rid, cfg in autoencoder_configs(tc, scale).items():
        jobs.append(Job("diffusion", "autoencoder", rid, gpu, threads,
                        {f"diffusion.autoencoder:{cfg['dataset']}/{cfg['image_size']}px": 1}))
    for rid, cfg in reference_configs(tc, scale).items():
        work: dict = {}
        for name in cfg["embedders"]:
            add(work, embed_key(name), cfg["n_reference"])
        jobs.append(Job("diffusion", "reference", rid, gpu, threads, work,
                        note="n_reference images (an upper bound on the realised set)"))
    for rid, cfg in runs.items():
        keys = diffusion_keys(cfg)
        work: dict = {}
        add(work, keys["encode"], diffusion_train_images(cfg))
        add(work, keys["train"], cfg["steps"] * cfg["batch_size"])
        after = (f"diffusion/ae-{cfg['group']}",) if sc["codec"] == "autoencoder" else ()
        jobs.append(Job("diffusion", "DiT training", rid, gpu, threads, work, after))
        # samples: n_eval images and n_curve at each EMA snapshot, eval_steps each (guided: x2)
        guided = 2 if cfg["num_classes"] else 1
        n_curve = min(ev["n_curve"], ev["n_eval"])
        snaps = len({max(1, round(f * cfg["steps"])) for f in cfg["snapshot_fractions"]} - {cfg["steps"]})
        images = ev["n_eval"] + snaps * n_curve
        work = {}
        add(work, keys["forward"], images * ev["eval_steps"] * guided)
        add(work, keys["decode"], images)
        for name in ev["embedders"]:
            add(work, embed_key(name), ev["n_eval"])
        add(work, embed_key("inception"), snaps * n_curve)
        jobs.append(Job("diffusion", "samples", f"samples-{rid}", gpu, threads, work,
                        (f"diffusion/{rid}", f"diffusion/ref-{cfg['group']}")))
    st = eval_config(tc, scale, "study")
    # the distinct samplings of saidl.diffusion.evaluate.study: (scale, steps, sampler, DDPM variance);
    # the model's own variance is learned_range for DiT-XL/2 and fixed_small for ours
    native = "learned_range" if st["study_run"] == "pretrained" else "fixed_small"
    variances = list(dict.fromkeys([native, *(st.get("steps_variances") or [])]))

    def var(sampler: str, v: str) -> str | None:
        return v if sampler == "ddpm" else None

    settings = {(float(s), int(st["guidance_steps"]), st["guidance_sampler"], var(st["guidance_sampler"], native))
                for s in st["guidance_scales"]}
    settings |= {(float(st["steps_cfg_scale"]), int(n), smp, v) for smp in st["steps_samplers"]
                 for v in dict.fromkeys(var(smp, x) for x in variances) for n in st["sampling_steps"]}
    steps = sum(n for _, n, _, _ in settings)
    work = {}
    if st["study_run"] == "pretrained":
        add(work, f"diffusion.forward:{st['pretrained_id']}", 2 * st["n_study"] * steps)
        add(work, f"diffusion.vae_decode:{sc.get('vae_id', sc['codec'])}/256px", st["n_study"] * len(settings))
        after: tuple = ()
    else:
        keys = diffusion_keys(runs[st["study_run"]])
        add(work, keys["forward"], 2 * st["n_study"] * steps)
        add(work, keys["decode"], st["n_study"] * len(settings))
        after = (f"diffusion/{st['study_run']}",)
    jobs.append(Job("diffusion", "study", "study", gpu, threads, work, after,
                    note="the probe's training and scoring not costed"))
    bk = eval_config(tc, scale, "backends")
    base = runs[bk["backend_run"]]
    work = {}
    for backend in BACKENDS:
        keys = diffusion_keys({**base, "window": bk["window"]}, backend)
        add(work, keys["forward"], bk["n_backend_images"] * (2 + bk["backend_steps"] * bk["backend_repeats"]))
    jobs.append(Job("diffusion", "backends", "backends", gpu, ALL_CORES, work, (f"diffusion/{bk['backend_run']}",),
                    note="every backend counted, also one the device cannot run"))
    return jobs


def mm_feature_key(name: str, enc: dict) -> str:
    return f"multimodal.features:{name}" + (f"/{enc['image_size']}px" if name in ("effnet-lite0", "clip-image") else "")


def mm_epoch_key(cfg: dict, source: str) -> str:
    m = cfg["model"]
    return f"multimodal.train_epoch:{source}/{m['decomposition']}/dim{m['dim']}"


def mm_literals(source: str, modality: str) -> int | None:
    return DMG777K_LITERALS.get(modality) if source == "dmg777k" else None


def multimodal_jobs(config: dict, scale: str, packing: bool = True) -> list[Job]:
    from saidl.multimodal.grid import PRETRAINED, job_config, needed_features, pack_key, run_configs, scale_config

    tc = config["multimodal"]
    sc = scale_config(tc, scale)
    gpu, threads, source = on_gpu(sc["device"], scale), sc["threads"], sc["data"]["source"]
    modality = {"stats": "image", "effnet-lite0": "image", "clip-image": "image",
                "bow": "text", "minilm": "text", "clip-text": "text"}
    prep = f"multimodal.prepare:{source}"
    jobs = []
    for name in needed_features(tc, scale):
        work: dict = {}
        add(work, prep, 1)
        add(work, mm_feature_key(name, sc["encoders"]), mm_literals(source, modality.get(name, name)))
        jobs.append(Job("multimodal", "features", f"features-{name}", gpu and name in PRETRAINED, threads, work,
                        note="all literals of the modality (an upper bound)"))
    runs, alone = run_configs(tc, scale), {}
    for rid, cfg in runs.items():
        work = {}
        add(work, prep, 1)
        add(work, mm_epoch_key(cfg, source), cfg["train"]["epochs"])
        alone[rid] = Job("multimodal", "train run", rid, gpu, threads, work,
                         tuple(f"multimodal/features-{f}" for f in cfg["features"].values()))
    jobs += packed_jobs("multimodal", alone, runs, sc, pack_key, packing)
    job = job_config(tc, scale, "embed_timing")
    work = {}
    add(work, prep, 1)
    add(work, mm_epoch_key(job, source), 2 * job["epochs"])
    for m, name in job["features"].items():
        if name in PRETRAINED:
            add(work, mm_feature_key(name, job["encoders"]), None if mm_literals(source, m) is None
                else job["epochs"] * mm_literals(source, m))
    jobs.append(Job("multimodal", "embed timing", "embed_timing", gpu, ALL_CORES, work,
                    tuple(f"multimodal/features-{f}" for f in job["features"].values())))
    job = job_config(tc, scale, "finetune")
    key = (f"multimodal.finetune:{source}/{job['train_nodes']}+{job['eval_nodes']}/"
           f"{job['warmup_epochs']}+{job['epochs']}/i{job['image_blocks']}t{job['text_layers']}")
    jobs.append(Job("multimodal", "finetune", "finetune", gpu, threads, {key: 1},
                    tuple(f"multimodal/features-{f}" for f in job["features"].values())))
    return jobs


JOBS = {"coreml": coreml_jobs, "ssm": ssm_jobs, "rl": rl_jobs, "diffusion": diffusion_jobs,
        "paper": paper_jobs, "multimodal": multimodal_jobs}


def plan_jobs(config: dict, scale: str, tasks=None, packing: bool = True) -> list[Job]:
    """The costed jobs of ``tasks``; ``packing`` False: every scale's pack forced to 1 (one run per job)."""
    out = []
    for task in tasks or config.get("tasks", TASKS):
        known = {j.id: j for j in out}
        out += [j for j in JOBS[task](config, scale, packing) if known.get(j.id) != j]  # a shared run: one job
    ids = [j.id for j in out]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"two costed jobs share a name: {sorted({i for i in ids if ids.count(i) > 1})}")
    return out


# ------------------------------------------------------------------------------------ calibration


ENTRY_FIELDS = {"device": str, "torch": str, "date": str, "source": str, "kinds": dict}
KIND_FIELDS = {"seconds": (int, float), "unit": str, "at": str}


def slug(text: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (a device entry's name)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def check_calibration(cal: dict, where: str = "calibration") -> None:
    """Raise ConfigError naming the first entry or kind that breaks the schema: ``devices`` maps a
    name to {device, torch, date (YYYY-MM-DD), source, kinds}; a kind maps a known cost key to
    {seconds > 0, unit (the key's UNITS text), at: how it was measured}."""
    if not isinstance(cal, dict) or not isinstance(cal.get("devices"), dict):
        raise ConfigError(f"{where}: the top level must be {{'devices': {{name: entry}}}}")
    for name, entry in cal["devices"].items():
        for key, typ in ENTRY_FIELDS.items():
            if not isinstance(entry.get(key), typ):
                raise ConfigError(f"{where}: device '{name}' needs '{key}' ({typ.__name__})")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["date"]):
            raise ConfigError(f"{where}: device '{name}': date '{entry['date']}' is not YYYY-MM-DD")
        for key, rec in entry["kinds"].items():
            if key.split(":", 1)[0] not in UNITS or ":" not in key:
                raise ConfigError(f"{where}: device '{name}': unknown cost kind '{key}' (known prefixes: "
                                  f"{', '.join(UNITS)})")
            for field_, typ in KIND_FIELDS.items():
                if not isinstance(rec.get(field_), typ) or isinstance(rec.get(field_), bool):
                    raise ConfigError(f"{where}: device '{name}', kind '{key}' needs '{field_}'")
            if not rec["seconds"] > 0:
                raise ConfigError(f"{where}: device '{name}', kind '{key}': seconds must be > 0")
            if rec["unit"] != unit(key):
                raise ConfigError(f"{where}: device '{name}', kind '{key}': unit '{rec['unit']}' is not the plan's "
                                  f"'{unit(key)}' (remeasure with scripts/gpu_check.sh)")


def load_calibration(path: Path = CALIBRATION) -> dict:
    if not Path(path).is_file():
        return {"devices": {}}
    cal = json.loads(Path(path).read_text())
    check_calibration(cal, str(path))
    return cal


def merge_entry(cal: dict, name: str, entry: dict) -> dict:
    """``cal`` with ``entry`` as device ``name``: the new kinds replace the old ones; kinds it did not
    measure stay only if the old entry is the same device with the same torch version (the sources
    of both runs are then kept; each kind has its own date)."""
    devices = cal.setdefault("devices", {})
    old = devices.get(name)
    kinds, source = {}, entry["source"]
    if old and old.get("device") == entry["device"] and old.get("torch") == entry["torch"]:
        kinds.update(old.get("kinds", {}))
        if old.get("source") and old["source"] != source and old.get("kinds"):
            source = f"{old['source']}; then {source}"
    kinds.update(entry["kinds"])
    devices[name] = {**entry, "source": source, "kinds": dict(sorted(kinds.items()))}
    cal["devices"] = dict(sorted(devices.items()))
    return cal


def find_device(calibration: dict, name: str) -> tuple[str, dict]:
    """The entry named ``name``, else the one whose name starts with it (e.g. nvidia-h100)."""
    devices = calibration.get("devices", {})
    if name in devices:
        return name, devices[name]
    hits = [k for k in devices if k.startswith(name)]
    if len(hits) == 1:
        return hits[0], devices[hits[0]]
    known = ", ".join(sorted(devices)) or "none"
    why = f"several match ({', '.join(hits)})" if hits else "none matches"
    raise ConfigError(f"device '{name}': {why} in the calibration file (devices: {known}); run "
                      "scripts/gpu_check.sh on that device to measure it")


def cost(jobs: list[Job], kinds: dict) -> None:
    """Fill each job's seconds from the per-step seconds ``kinds``; unknown kinds or counts -> missing."""
    for job in jobs:
        job.seconds, job.missing = 0.0, []
        for key, n in job.work.items():
            rec = kinds.get(key)
            if rec is None or n is None:
                job.missing.append(key)
            else:
                job.seconds += n * rec["seconds"]


# ------------------------------------------------------------------------------------ schedule


def wall_time(jobs: list[Job], cores: int, gpus: int) -> float:
    """List schedule: whenever resources free up, start the longest ready job that fits. A job
    holds min(threads, cores) cores and, if it is a GPU job and gpus > 0, one GPU; a job starts
    after the costed jobs it reads."""
    if cores < 1 or gpus < 0:
        raise ConfigError("--cores must be at least 1 and --gpus at least 0")
    ids = {j.id for j in jobs}
    waiting = {j.id: {a for a in j.after if a in ids} for j in jobs}
    by_id = {j.id: j for j in jobs}
    ready = sorted((j for j in jobs if not waiting[j.id]), key=lambda j: -j.seconds)
    running: list[tuple[float, int, str]] = []
    free_cores, free_gpus, now, done = cores, gpus, 0.0, set()
    counter = 0
    while ready or running:
        started = True
        while started:
            started = False
            for j in ready:
                c, g = min(j.threads, cores), 1 if (j.gpu and gpus) else 0
                if c <= free_cores and g <= free_gpus:
                    ready.remove(j)
                    free_cores, free_gpus = free_cores - c, free_gpus - g
                    counter += 1
                    heapq.heappush(running, (now + j.seconds, counter, j.id))
                    started = True
                    break
        if not running:
            break
        now, _, jid = heapq.heappop(running)
        j = by_id[jid]
        free_cores += min(j.threads, cores)
        free_gpus += 1 if (j.gpu and gpus) else 0
        done.add(jid)
        for other, deps in waiting.items():
            if jid in deps:
                deps.discard(jid)
                if not deps:
                    ready.append(by_id[other])
        ready.sort(key=lambda x: -x.seconds)
    if len(done) != len(jobs):
        raise ConfigError(f"jobs wait for each other in a cycle: {sorted(set(by_id) - done)[:5]}")
    return now


# ------------------------------------------------------------------------------------ report


def hours(s: float) -> str:
    if 0 < s < 60:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min" if 0 < s < 360 else f"{s / 3600:,.1f} h"


def duration(s: float) -> str:
    return f"{s / 3600:,.1f} h ({s / 86400:,.1f} days)" if s >= 86400 else f"{s / 3600:,.2f} h"


def count(n: float | None) -> str:
    return "unknown count" if n is None else f"{n:,.0f}"


def totals(jobs: list[Job], kinds: dict, cores: int, gpus: int) -> dict:
    """Jobs, GPU-job and CPU-job seconds, wall time and the kinds without a cost of a costed plan."""
    cost(jobs, kinds)
    return {"jobs": len(jobs), "gpu": sum(j.seconds for j in jobs if j.gpu),
            "cpu": sum(j.seconds for j in jobs if not j.gpu), "wall": wall_time(jobs, cores, gpus),
            "missing": {k for j in jobs for k in j.missing}}


def pack_summary(jobs: list[Job]) -> str:
    """'coreml 45 (vmap), rl 6 (vmap) + 1 (serial)': the packs of each task by mode."""
    out = []
    for task in dict.fromkeys(j.task for j in jobs):
        modes: dict[str, int] = {}
        for j in jobs:
            if j.task == task and j.members:
                mode = j.kind.rsplit("(", 1)[-1].rstrip(")")
                modes[mode] = modes.get(mode, 0) + 1
        if modes:
            out.append(f"{task} " + " + ".join(f"{n} ({m})" for m, n in modes.items()))
    return ", ".join(out)


def comparison(before: list[Job], after: list[Job], kinds: dict, device: str, cores: int, gpus: int) -> list[str]:
    """The closing block: the protocol before packing (every pack 1) against after (as configured)."""
    rows = {"before": totals(before, kinds, cores, gpus), "after": totals(after, kinds, cores, gpus)}
    walls = {name: ("at least " if t["missing"] else "") + duration(t["wall"]) for name, t in rows.items()}
    head = f"wall, {gpus} GPU{'s' if gpus != 1 else ''} + {cores} cores"
    width = max(len(head), *map(len, walls.values())) + 2
    lines = [f"Before and after packing on {device} (before: every scale's pack forced to 1, one run per job; "
             "after: the scale blocks' pack and pack_mode, as the workflow runs them):",
             f"  {'plan':<8}{'jobs':>7}{'GPU-job h':>12}{'CPU-job h':>12}  {head:<{width}}plan is"]
    for name, t in rows.items():
        state = f"a lower bound ({len(t['missing'])} kinds not measured)" if t["missing"] else "complete"
        lines.append(f"  {name:<8}{t['jobs']:>7,}{t['gpu'] / 3600:>12,.1f}{t['cpu'] / 3600:>12,.1f}  "
                     f"{walls[name]:<{width}}{state}")
    packs_ = pack_summary(after)
    lines.append(f"  packs after: {packs_}" if packs_ else "  the configured scale packs no runs: after = before")
    new = sorted(rows["after"]["missing"] - rows["before"]["missing"])
    if new:
        lines += textwrap.wrap(f"not measured after packing only ({len(new)}): {', '.join(new)}", 120,
                               initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
    return lines


def render(jobs: list[Job], device: str, entry: dict, scale: str, cores: int, gpus: int,
           calibration_path: Path = CALIBRATION, before: list[Job] | None = None) -> str:
    """The plan of ``jobs`` task by task; with ``before`` (the same plan with every pack 1), a
    closing comparison of the two."""
    kinds = entry.get("kinds", {})
    cost(jobs, kinds)
    try:
        where = calibration_path.resolve().relative_to(ROOT)
    except ValueError:
        where = calibration_path
    lines = [f"Cost plan: scale {scale} on {device} ({entry.get('device', '?')}; torch {entry.get('torch', '?')}, "
             f"measured {entry.get('date', '?')})",
             f"Calibration: {where}, entry '{device}'; source: {entry.get('source', '?')}"]
    if scale != "full":
        lines.append(f"Note: the kinds are measured with the full scale's models and sizes; a {scale} job whose "
                     "key matches one is costed as at full.")
    lines.append("")
    all_missing: set[str] = set()
    tasks = list(dict.fromkeys(j.task for j in jobs))
    totals = {"gpu": 0.0, "cpu": 0.0}
    for task in tasks:
        tj = [j for j in jobs if j.task == task]
        lines.append(f"{task}: {len(tj)} jobs")
        t_missing: set[str] = set()
        for kind in dict.fromkeys(j.kind for j in tj):
            kj = [j for j in tj if j.kind == kind]
            where_run = "GPU" if kj[0].gpu and gpus else ("CPU" if not kj[0].gpu else "GPU job on the CPU")
            if len({j.gpu for j in kj}) > 1:
                where_run = "GPU/CPU"
            secs = sum(j.seconds for j in kj)
            lines.append(f"  {kind}: {len(kj)} jobs ({where_run}), {hours(secs)}"
                         + (f"; {kj[0].note}" if kj[0].note else ""))
            steps: dict[str, float | None] = {}
            for j in kj:
                for key, n in j.work.items():
                    steps[key] = None if n is None or steps.get(key, 0) is None else steps.get(key, 0) + n
            for key, n in steps.items():
                rec = kinds.get(key)
                per_job = {j.work.get(key) for j in kj if key in j.work}
                each = (f", {count(next(iter(per_job)))} per job" if len(per_job) == 1 and len(kj) > 1 else "")
                if rec is None:
                    cost_s = "not measured"
                    t_missing.add(key)
                elif n is None:
                    cost_s = f"{rec['seconds']:.4g} s each, count unknown (not costed)"
                    t_missing.add(key)
                else:
                    cost_s = f"{rec['seconds']:.4g} s each = {hours(n * rec['seconds'])}"
                lines.append(f"    {count(n)} x {key}{each}: {cost_s}")
        gpu_s = sum(j.seconds for j in tj if j.gpu)
        cpu_s = sum(j.seconds for j in tj if not j.gpu)
        totals["gpu"] += gpu_s
        totals["cpu"] += cpu_s
        lines.append(f"  {task} total: {len(tj)} jobs, {hours(gpu_s)} in GPU jobs, {hours(cpu_s)} in CPU jobs"
                     + (f"; incomplete: {len(t_missing)} kinds not measured" if t_missing else ""))
        lines.append("")
        all_missing |= t_missing
    lines.append(f"Summary on {device}:")
    lines.append(f"  {'task':<11}{'jobs':>6}{'GPU-job h':>12}{'CPU-job h':>12}  kinds without a cost")
    for task in tasks:
        tj = [j for j in jobs if j.task == task]
        miss = {k for j in tj for k in j.missing}
        lines.append(f"  {task:<11}{len(tj):>6}{sum(j.seconds for j in tj if j.gpu) / 3600:>12,.1f}"
                     f"{sum(j.seconds for j in tj if not j.gpu) / 3600:>12,.1f}  {len(miss) or '-'}")
    wall = wall_time(jobs, cores, gpus)
    bound = "at least " if all_missing else ""
    lines.append(f"Total: {len(jobs)} jobs; {bound}{hours(totals['gpu'])} in GPU jobs, "
                 f"{bound}{hours(totals['cpu'])} in CPU jobs"
                 + (f"; incomplete: {len(all_missing)} kinds not measured" if all_missing else ""))
    lines.append(f"Wall time with {gpus} GPU{'s' if gpus != 1 else ''} and {cores} cores: {bound}{duration(wall)}")
    lines.append("  (list schedule, longest ready job first; a job holds min(threads, cores) cores and a GPU job "
                 "one GPU" + ("" if gpus else ", here none: GPU jobs run on the cores") + "; a job waits for the "
                 "costed jobs it reads; report, data and EDA jobs are not costed"
                 + ("; kinds without a cost count as 0)" if all_missing else ")"))
    if before is not None:
        lines += [""] + comparison(before, jobs, kinds, device, cores, gpus)
        cost(jobs, kinds)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="full")
    ap.add_argument("--device", default="nvidia-h100", help="a device entry of the calibration file (or its prefix)")
    ap.add_argument("--cores", type=int, default=16)
    ap.add_argument("--gpus", type=int, default=1)
    ap.add_argument("--calibration", type=Path, default=CALIBRATION)
    ap.add_argument("--tasks", nargs="+", choices=TASKS)
    ap.add_argument("--packing", choices=("both", "configured", "none"), default="both",
                    help="the plan as configured (pack, pack_mode), with none packed (every pack 1), or the "
                         "configured plan followed by a before/after comparison (default)")
    args = ap.parse_args(argv)
    try:
        name, entry = find_device(load_calibration(args.calibration), args.device)
        config = load_config()
        jobs = plan_jobs(config, args.scale, args.tasks, packing=args.packing != "none")
        before = plan_jobs(config, args.scale, args.tasks, packing=False) if args.packing == "both" else None
        text = render(jobs, name, entry, args.scale, args.cores, args.gpus, args.calibration, before)
        if args.packing == "none":
            text = text.replace("\n\n", "\nPacking: none (every scale's pack forced to 1: one run per job)\n\n", 1)
        print(text)
    except ConfigError as exc:
        print(f"plan: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
