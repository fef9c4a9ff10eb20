# Reinforcement learning: TD3 (+PER, n-step) on Hopper, noisy nets, robustness, SALE.
# One job per (variant, seed): training, then its attack evaluations and embedding analysis. The
# shared rules (tasks/common.smk) collect, draw and typeset them.
import json

from saidl.common.workflow import Chain, gpus, logged, wildcard_choice
from saidl.rl.figures import FIGURES as RL_FIGURES
from saidl.rl.grid import run_configs as rl_run_configs
from saidl.rl.grid import scale_config as rl_scale_config

RL = f"{RESULTS}/rl"
RL_SCALE = rl_scale_config(config["rl"], SCALE)
RL_RUNS = rl_run_configs(config["rl"], SCALE)
RL_GPU = gpus(RL_SCALE["device"], SCALE)

CHAINS["rl"] = Chain(wildcard="rl", grids={"grid": RL_RUNS}, runs=list(RL_RUNS), figures=RL_FIGURES)


wildcard_constraints:
    rl_run=wildcard_choice(RL_RUNS),


rule rl_train:
    """Train one variant with one seed, then evaluate it under attack; writes its JSON atomically."""
    output:
        f"{RL}/runs/{{rl_run}}.json",
    params:
        cfg=lambda w: json.dumps(RL_RUNS[w.rl_run], sort_keys=True),
        ckpt=lambda w: f"{RL}/ckpt/{w.rl_run}.pt",
    threads: RL_SCALE["threads"]
    resources:
        gpu=RL_GPU,
    log:
        f"{LOGS}/rl/train/{{rl_run}}.log",
    conda:
        SAIDL_ENV
    shell:
        logged("OMP_NUM_THREADS={threads} python -m saidl.rl.train --config-json {params.cfg:q} --out {output} "
               "--threads {threads} --ckpt {params.ckpt}")
