"""The grid of RL runs at one scale: run ids ``<variant>-s<seed>`` and each run's full config."""

from __future__ import annotations

from saidl.common.config import RunGrid, defined_entry, scale_block

RUN_KEYS = ("env_id", "total_steps", "start_steps", "eval_every", "eval_episodes", "batch_size", "hidden",
            "buffer_size", "gamma", "tau", "policy_delay", "lr", "expl_noise", "target_policy_smoothing",
            "n_step", "prioritized", "per_alpha", "per_beta0", "device", "attack_eps", "attack_episodes",
            "attack_steps", "max_episode_steps", "zs_dim", "probe_episodes")


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "rl", scale)


def run_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    sc = scale_config(task_cfg, scale)
    runs = RunGrid("rl")
    for name in sc["variants"]:
        variant = defined_entry(task_cfg, "rl", "variants", name, f"{scale}.variants")
        for seed in sc["seeds"]:
            rid = f"{name}-s{seed}"
            runs.add(rid, {**{k: sc[k] for k in RUN_KEYS}, **variant, "variant": name,
                           "run_id": rid, "scale": scale, "seed": int(seed)},
                     f"rl.scales.{scale}.variants '{name}' (seed {seed})")
    return dict(runs)
