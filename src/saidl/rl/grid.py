"""The grid of RL runs at one scale: run ids ``<variant>-s<seed>`` and each run's full config.

A scale may give some variants their own budget (``budgets: {td3: {total_steps: ...}}``): the
demo trains the policy that the robustness study attacks for longer than the others. Only the
variants in ``attack_variants`` (absent: all) are attacked; their runs carry ``attack: true``, and
``attack_policy`` says which of a run's policies is attacked: ``final`` (default) or ``best``, the
policy at its best evaluation during training (TD7's checkpoint rule).
"""

from __future__ import annotations

import hashlib
import json

from saidl.common.config import RunGrid, defined_entry, scale_block
from saidl.common.errors import ConfigError

RUN_KEYS = ("env_id", "total_steps", "start_steps", "eval_every", "eval_episodes", "batch_size", "hidden",
            "buffer_size", "gamma", "tau", "policy_delay", "lr", "expl_noise", "target_policy_smoothing",
            "n_step", "prioritized", "per_alpha", "per_beta0", "device", "attack_eps", "attack_episodes",
            "attack_steps", "max_episode_steps", "zs_dim", "probe_episodes")
BUDGET_KEYS = ("total_steps", "start_steps", "eval_every")


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "rl", scale)


def _check_named(sc: dict, key: str, scale: str) -> None:
    unknown = [v for v in sc.get(key) or {} if v not in sc["variants"]]
    if unknown:
        raise ConfigError(f"config error: rl.scales.{scale}.{key} names {', '.join(map(repr, unknown))}, which "
                          f"rl.scales.{scale}.variants does not train ({', '.join(sc['variants'])}); add it there "
                          f"or remove it from {key} in tasks/rl/config.yaml (or in the --config you passed)")


def run_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    sc = scale_config(task_cfg, scale)
    for key in ("budgets", "attack_variants"):
        _check_named(sc, key, scale)
    attacked = sc.get("attack_variants", sc["variants"])
    runs = RunGrid("rl")
    for name in sc["variants"]:
        variant = defined_entry(task_cfg, "rl", "variants", name, f"{scale}.variants")
        budget = (sc.get("budgets") or {}).get(name, {})
        for seed in sc["seeds"]:
            rid = f"{name}-s{seed}"
            cfg = {**{k: sc[k] for k in RUN_KEYS}, **budget, **variant, "variant": name, "run_id": rid,
                   "scale": scale, "seed": int(seed), "attack": name in attacked,
                   "attack_policy": sc.get("attack_policy", "final")}
            if cfg["start_steps"] >= cfg["total_steps"]:
                raise ConfigError(f"config error: rl.scales.{scale}: variant '{name}' has start_steps "
                                  f"{cfg['start_steps']} >= total_steps {cfg['total_steps']}, so it would never "
                                  "learn; lower start_steps or raise total_steps (in budgets or the scale) in "
                                  "tasks/rl/config.yaml")
            runs.add(rid, cfg, f"rl.scales.{scale}.variants '{name}' (seed {seed})")
    return dict(runs)


# What the members of a pack share (config ``pack``): the schedule and the shapes of the networks,
# so that a batched pack (``pack_mode: vmap``, saidl.rl.packed) can stack them; a member's own are
# its seed, its noise law and what it is evaluated and attacked on.
PACK_SHARED_KEYS = ("env_id", "total_steps", "start_steps", "eval_every", "batch_size", "hidden", "buffer_size",
                    "gamma", "tau", "policy_delay", "lr", "expl_noise", "target_policy_smoothing", "n_step",
                    "prioritized", "per_alpha", "per_beta0", "device", "max_episode_steps", "zs_dim")


def pack_family(cfg: dict) -> str:
    """The network family of a run: ``sale``, ``noisy`` (a noisy-net actor, any noise law) or ``td3``."""
    return "sale" if cfg["sale"] else ("noisy" if cfg["noisy"] else "td3")


def pack_key(cfg: dict) -> str:
    """Runs that may train in one pack (config ``pack``): one network family (the seeds of TD3, of
    SALE, or of every noise law of the noisy nets) and the same schedule and sizes
    (``PACK_SHARED_KEYS``, shown as a short digest)."""
    shared = json.dumps([cfg.get(k) for k in PACK_SHARED_KEYS], sort_keys=True)
    return f"{pack_family(cfg)}-{hashlib.sha1(shared.encode()).hexdigest()[:6]}"


def pack_mode(cfgs: list[dict], configured: str) -> str:
    """How a pack trains: the scale's ``pack_mode``, except that SALE packs always train serially
    (saidl.rl.packed batches TD3 and noisy-net agents, not SALE's encoders)."""
    return "serial" if any(c["sale"] for c in cfgs) else configured
