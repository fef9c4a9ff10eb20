"""The grid of RL runs at one scale: run ids ``<variant>-s<seed>`` and each run's full config."""

from __future__ import annotations

from saidl.common.config import scale_block
from saidl.common.errors import ConfigError

RUN_KEYS = ("env_id", "total_steps", "start_steps", "eval_every", "eval_episodes", "batch_size", "hidden",
            "buffer_size", "gamma", "tau", "policy_delay", "lr", "expl_noise", "target_policy_smoothing",
            "n_step", "prioritized", "per_alpha", "per_beta0", "device", "attack_eps", "attack_episodes",
            "attack_steps", "max_episode_steps", "zs_dim")


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "rl", scale)


def run_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    sc = scale_config(task_cfg, scale)
    runs = {}
    for name in sc["variants"]:
        if name not in task_cfg["variants"]:
            raise ConfigError(f"rl.scales.{scale}.variants names '{name}', which is not defined under "
                              f"rl.variants in tasks/rl/config.yaml; defined: {', '.join(task_cfg['variants'])}")
        for seed in sc["seeds"]:
            rid = f"{name}-s{seed}"
            runs[rid] = {**{k: sc[k] for k in RUN_KEYS}, **task_cfg["variants"][name], "variant": name,
                         "run_id": rid, "scale": scale, "seed": int(seed)}
    return runs
