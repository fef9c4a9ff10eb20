# Reinforcement learning: TD3 (+PER, n-step) on Hopper, noisy nets, robustness, SALE.
# One job per (variant, seed): training, then its attack evaluations and embedding analysis. The
# shared rules (tasks/common.smk) collect, draw and typeset them.
from saidl.common.workflow import Chain, gpus
from saidl.rl.figures import FIGURES as RL_FIGURES
from saidl.rl.grid import run_configs as rl_run_configs
from saidl.rl.grid import pack_key as rl_pack_key
from saidl.rl.grid import pack_mode as rl_pack_mode
from saidl.rl.grid import scale_config as rl_scale_config

RL = f"{RESULTS}/rl"
RL_SCALE = rl_scale_config(config["rl"], SCALE)
RL_RUNS = rl_run_configs(config["rl"], SCALE)
RL_GPU = gpus(RL_SCALE["device"], SCALE)

CHAINS["rl"] = Chain(wildcard="rl", grids={"grid": RL_RUNS}, runs=list(RL_RUNS), figures=RL_FIGURES)


# One run per job, or packs of at most `pack` runs of one network family per job (tasks/training.smk),
# trained one after another or, with `pack_mode: vmap`, as one batched agent (saidl.rl.packed; SALE
# packs stay serial).
train_rules("rl_train", "rl_run", RL_RUNS, f"{RL}/runs", f"{LOGS}/rl/train", "saidl.rl.train",
            threads=RL_SCALE["threads"], gpu=RL_GPU, pack=RL_SCALE.get("pack", 1), pack_key=rl_pack_key,
            pack_mode=lambda cfgs: rl_pack_mode(cfgs, RL_SCALE.get("pack_mode", "serial")),
            ckpt_dir=f"{RL}/ckpt", env="OMP_NUM_THREADS={threads} ")
