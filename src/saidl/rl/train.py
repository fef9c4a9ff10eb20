"""Training one RL run (a variant and a seed) on MuJoCo Hopper, then its evaluations.

The loop is TD3's: random actions for ``start_steps``, then one gradient update per environment
step from a prioritized replay buffer of n-step transitions (termination ends the bootstrap,
the time limit does not). Every ``eval_every`` steps the deterministic policy is evaluated on
``eval_episodes`` episodes. After training: returns under observation attacks of growing radius
(random corners of the L-inf ball and critic-gradient, per episode, where the run config asks
for them), the learned noisy-net sigma per layer, and for SALE an analysis of the
state embedding against an untrained encoder of the same architecture and the raw state.

Usage: ``python -m saidl.rl.train --config-json '{...}' --out run.json [--threads N]``
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from saidl.common.checkpoint import finish_run, load_checkpoint, save_checkpoint
from saidl.common.cli import exit_code, train_args
from saidl.common.errors import DataError
from saidl.common.provenance import run_provenance
from saidl.common.runtime import choose_device, seed_everything


def make_env(env_id: str, max_episode_steps: int | None = None):
    try:
        import gymnasium as gym

        return gym.make(env_id, max_episode_steps=max_episode_steps)
    except Exception as exc:  # gymnasium raises several types for a missing MuJoCo
        raise DataError(f"cannot create the environment {env_id} ({type(exc).__name__}: {exc}); install it "
                        "with `pip install 'gymnasium[mujoco]'` (the package's `rl` extra)") from exc


def make_agent(cfg: dict, obs_dim: int, act_dim: int, device: torch.device):
    common = dict(gamma=cfg["gamma"], tau=cfg["tau"], policy_delay=cfg["policy_delay"],
                  batch_size=cfg["batch_size"], expl_noise=cfg["expl_noise"],
                  target_policy_smoothing=cfg["target_policy_smoothing"], max_action=1.0)
    if cfg["sale"]:
        from saidl.rl.sale import SALETD3

        return SALETD3(obs_dim, act_dim, {**common, "lr": cfg["lr"], "hidden": cfg["hidden"],
                                          "zs_dim": cfg["zs_dim"]}, seed=cfg["seed"], device=device)
    from saidl.rl.td3 import TD3, TD3Config

    tcfg = TD3Config(**common, actor_lr=cfg["lr"], critic_lr=cfg["lr"], hidden=cfg["hidden"],
                     n_step=cfg["n_step"], noisy=cfg["noisy"])
    return TD3(obs_dim, act_dim, tcfg, device, cfg["seed"])


def random_policy_return(cfg: dict) -> float:
    """Mean return of uniformly random actions over the evaluation episodes: the floor to beat."""
    env = make_env(cfg["env_id"], cfg["max_episode_steps"])
    env.action_space.seed(cfg["seed"] + 100)
    returns = []
    for ep in range(cfg["eval_episodes"]):
        env.reset(seed=cfg["seed"] + 100 + ep)
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(env.action_space.sample())
            total, done = total + float(r), term or trunc
        returns.append(total)
    return float(np.mean(returns))


def noisy_sigma(agent) -> float | None:
    fn = getattr(agent.actor, "noisy_sigma", None)
    return None if fn is None else fn()


@torch.no_grad()
def noisy_sigma_layers(agent) -> list[float] | None:
    """Mean |sigma| of each NoisyLinear layer of the actor, input to output (None if not noisy)."""
    fn = getattr(agent.actor, "noisy_layers", None)
    layers = fn() if fn is not None else []
    return [float(layer.sigma_mean()) for layer in layers] if layers else None


class RunLoop:
    """One run's training state outside the agent's update: its environment, replay buffer, n-step
    accumulator, history and best policy, and the steps of TD3's loop that touch them. ``train``
    drives one RunLoop with its agent; ``saidl.rl.packed`` drives K of them with one batched
    update, so both train a run by the same code."""

    def __init__(self, cfg: dict, device: torch.device, state: dict | None = None):
        from saidl.rl.buffer import NStepAccumulator, ReplayBuffer

        self.cfg = cfg
        seed_everything(cfg["seed"])
        self.env = env = make_env(cfg["env_id"], cfg["max_episode_steps"])
        obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
        env.action_space.seed(cfg["seed"])
        self.agent = make_agent(cfg, obs_dim, act_dim, device)
        self.buffer = ReplayBuffer(obs_dim, act_dim, cfg["buffer_size"], prioritized=cfg["prioritized"],
                                   alpha=cfg["per_alpha"], seed=cfg["seed"])
        self.nstep = NStepAccumulator(cfg["n_step"], cfg["gamma"])
        hist = {"eval_steps": [], "eval_return": [], "eval_return_std": [], "noisy_sigma": [],
                "noisy_sigma_layers": [], "episode_returns": [], "episode_end_steps": []}
        hist["random_return"] = random_policy_return(cfg)
        # sigma of each noisy layer before any update (the start of the sigma curves)
        hist["noisy_sigma_layers_init"] = noisy_sigma_layers(self.agent)
        self.hist, self.first, self.updates = hist, 0, 0
        self.keep_best = cfg.get("attack", True) and cfg.get("attack_policy", "final") == "best"
        self.best = None  # the agent at its best evaluation so far: {"step", "eval_return", "state"}
        if state is not None:
            self.load_state(state)
        self.obs, _ = env.reset(seed=cfg["seed"] + self.first)
        self.ep_return = 0.0

    def state(self, t: int, agent_state: dict | None = None) -> dict:
        """What a checkpoint keeps of the run after step ``t`` (its agent's state: ``agent_state``)."""
        st = {"buffer": self.buffer, "hist": self.hist, "epoch": t, "updates": self.updates, "config": self.cfg,
              "best": self.best}
        return st if agent_state is None else {"agent": agent_state, **st}

    def load_state(self, state: dict) -> None:
        if "agent" in state:
            self.agent.load_state_dict(state["agent"])
        self.buffer, self.hist, self.first, self.updates = state["buffer"], state["hist"], state["epoch"], state["updates"]
        self.best = state.get("best")

    def action(self, t: int) -> np.ndarray | None:
        """A random action during the first ``start_steps`` steps, else None (the policy acts)."""
        return self.env.action_space.sample() if t < self.cfg["start_steps"] else None

    def step(self, t: int, action) -> None:
        """Step the environment with ``action`` and store the n-step transitions it completed."""
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        for tr in self.nstep.push(self.obs, action, reward, next_obs, terminated, truncated):
            self.buffer.add(*tr)
        self.obs, self.ep_return = next_obs, self.ep_return + float(reward)
        if terminated or truncated:
            self.hist["episode_returns"].append(self.ep_return)
            self.hist["episode_end_steps"].append(t + 1)
            self.obs, _ = self.env.reset()
            self.ep_return = 0.0

    def sample(self, t: int, device) -> dict | None:
        """The replay batch of step ``t`` (PER's beta annealed to 1), or None before ``start_steps``."""
        cfg, start = self.cfg, self.cfg["start_steps"]
        if t < start:
            return None
        beta = cfg["per_beta0"] + (1.0 - cfg["per_beta0"]) * (t - start) / max(1, cfg["total_steps"] - start)
        return self.buffer.sample(cfg["batch_size"], beta=beta, device=device)

    def learned(self, batch: dict, td_errors) -> None:
        self.updates += 1
        if self.cfg["prioritized"]:
            self.buffer.update_priorities(batch["indices"], td_errors)

    def evaluate(self, t: int) -> None:
        """Every ``eval_every`` steps: the deterministic policy's returns (and the best policy so far)."""
        from saidl.rl.attacks import evaluate

        cfg, hist, agent = self.cfg, self.hist, self.agent
        if (t + 1) % cfg["eval_every"]:
            return
        res = evaluate(agent, cfg["env_id"], episodes=cfg["eval_episodes"], seed=cfg["seed"],
                       max_steps=cfg["max_episode_steps"])
        hist["eval_steps"].append(t + 1)
        hist["eval_return"].append(float(res["mean"]))
        hist["eval_return_std"].append(float(res["std"]))
        hist["noisy_sigma"].append(noisy_sigma(agent))
        hist.setdefault("noisy_sigma_layers", []).append(noisy_sigma_layers(agent))
        if self.keep_best and (self.best is None or res["mean"] > self.best["eval_return"]):
            self.best = {"step": t + 1, "eval_return": float(res["mean"]), "state": copy.deepcopy(agent.state_dict())}

    def finish(self, train_time_s: float) -> dict:
        hist = self.hist
        hist["train_time_s"] = train_time_s
        hist["obs_std"] = self.buffer.obs[: len(self.buffer)].std(0).astype(float).round(6).tolist()
        hist["updates"] = self.updates
        hist["updates_per_s"] = self.updates / max(train_time_s, 1e-9)
        if not any(hist.get("noisy_sigma_layers") or []):  # not a noisy-net run
            hist["noisy_sigma_layers"] = None
        hist["_best"] = self.best
        return hist


def train(cfg: dict, device: torch.device, ckpt: Path | None = None, ckpt_interval_s: float = 300.0,
          stop_after: int | None = None) -> tuple[object, dict | None]:
    """Train one run; with ``ckpt``, save agent, replay buffer and history every
    ``ckpt_interval_s`` seconds and resume from them. A resumed run restarts the episode that was
    in progress (the simulator state is not saved). ``stop_after`` (tests): stop after that many
    steps with a checkpoint and return no history."""
    run = RunLoop(cfg, device, load_checkpoint(ckpt, cfg))
    agent, total = run.agent, cfg["total_steps"]
    t0, last_ckpt = time.perf_counter(), time.monotonic()
    for t in tqdm(range(run.first, total), desc=cfg["run_id"], initial=run.first, total=total, file=sys.stderr,
                  mininterval=5.0):
        action = run.action(t)
        run.step(t, agent.act(run.obs, explore=True) if action is None else action)
        if (batch := run.sample(t, device)) is not None:
            run.learned(batch, agent.update(batch)["td_errors"])
        run.evaluate(t)
        stopping = stop_after is not None and t + 1 >= stop_after
        if ckpt is not None and (stopping or time.monotonic() - last_ckpt >= ckpt_interval_s):
            save_checkpoint(ckpt, run.state(t + 1, agent.state_dict()))
            last_ckpt = time.monotonic()
        if stopping:
            return agent, None
    return agent, run.finish(time.perf_counter() - t0)


def attack_policy(agent, cfg: dict, hist: dict) -> dict | None:
    """Choose the policy the robustness study attacks (``attack_policy`` of the run config):
    ``final``, the agent after its last update, or ``best``, the agent at its best evaluation
    during training (TD7's checkpoint rule), loaded into ``agent``. The attack study then
    evaluates it on fresh episodes (other reset seeds than the evaluations that chose it), so its
    clean return is not the selected maximum. Returns the rule, the step and that evaluation's
    return; None when the run is not attacked."""
    best = hist.pop("_best", None)
    if not cfg.get("attack", True):
        return None
    rule = cfg.get("attack_policy", "final")
    if rule == "best" and best is not None:
        agent.load_state_dict(best["state"])
        return {"rule": rule, "step": best["step"], "eval_return": best["eval_return"]}
    return {"rule": rule, "step": hist["eval_steps"][-1], "eval_return": hist["eval_return"][-1]}


def robustness(agent, cfg: dict, obs_std: list[float]) -> dict | None:
    """Returns under observation attacks of growing radius, per episode; None when the run config
    says ``attack: false`` (the study runs only for the variants that ask for it).

    The radius is in units of each observation coordinate's standard deviation over the replay
    buffer (Hopper's velocities are about 100 times larger than its angles). The clean evaluation
    and every attacked one reset the same episodes (reset seeds ``seed + 1100 + i``), so the
    episodes are paired across clean, random and critic. ``random`` is a random corner of the
    same L-inf ball as the critic attack (every coordinate +-eps*scale_j), so its perturbation is
    never smaller in norm than the critic attack's. Means per radius (``random``, ``critic``; at
    radius 0 both are the clean mean), the episodes' returns and lengths per radius and kind, and
    the clean episodes."""
    from saidl.rl.attacks import evaluate

    if not cfg.get("attack", True):
        return None
    scale = np.asarray(obs_std, dtype=np.float32)
    kw = dict(episodes=cfg["attack_episodes"], seed=cfg["seed"] + 1000, max_steps=cfg["max_episode_steps"],
              steps=cfg["attack_steps"], scale=scale)
    clean = evaluate(agent, cfg["env_id"], eps=0.0, attack="none", **kw)
    out = {"eps": list(cfg["attack_eps"]), "random_law": "linf_corner", "random": [], "critic": [],
           "random_episodes": [], "critic_episodes": [], "random_lengths": [], "critic_lengths": [],
           "clean_episodes": [float(x) for x in clean["returns"]],
           "clean_lengths": [int(x) for x in clean["lengths"]],
           "clean_length": float(np.mean(clean["lengths"]))}  # mean episode length without attack
    for eps in cfg["attack_eps"]:
        for kind in ("random", "critic"):
            res = clean if eps <= 0 else evaluate(agent, cfg["env_id"], eps=eps, attack=kind, **kw)
            out[kind].append(float(res["mean"]))
            out[f"{kind}_episodes"].append([float(x) for x in res["returns"]])
            out[f"{kind}_lengths"].append([int(x) for x in res["lengths"]])
    return out


def embedding_analysis(agent, cfg: dict) -> dict | None:
    """SALE only: probes of quantities of the future from z_s of the trained encoder, of the same
    encoder as initialised (the untrained control) and of the raw state, cross-validated over
    whole trajectories; neighbour agreement of both encoders; a 2-D projection.

    The states are those the deterministic trained policy visits in ``probe_episodes`` episodes
    (reset seeds ``seed + 500 + i``). "Trained" is the online encoder after the last update (the
    actor reads a copy at most ``encoder_refresh`` updates older)."""
    if not cfg["sale"]:
        return None
    from saidl.rl import embedding as E

    env = make_env(cfg["env_id"], cfg["max_episode_steps"])
    states, episode, returns, next_reward, next_velocity = [], [], [], [], []
    for ep in range(cfg["probe_episodes"]):
        obs, _ = env.reset(seed=cfg["seed"] + 500 + ep)
        rewards, done = [], False
        while not done:
            states.append(obs)
            episode.append(ep)
            obs, r, term, trunc, _ = env.step(agent.act(obs, explore=False))
            rewards.append(float(r))
            next_velocity.append(float(obs[E.HOPPER_QUANTITIES["x_velocity"]]))
            done = term or trunc
        next_reward += rewards
        returns += list(np.cumsum(rewards[::-1])[::-1])  # return-to-go of each visited state
    S = np.asarray(states, dtype=np.float32)
    G = np.asarray(returns, dtype=np.float32)
    Z = {which: agent.embed(S, which=which).cpu().numpy() for which in ("online", "initial")}
    # Quantities of the *future*, which a raw state does not list: what the embedding adds.
    targets = {"return_to_go": G, "next_reward": np.asarray(next_reward, dtype=np.float32),
               "next_x_velocity": np.asarray(next_velocity, dtype=np.float32)}
    probe = E.linear_probe({"trained": Z["online"], "untrained": Z["initial"], "state": S}, targets, episode)
    xy = E.pca_2d(Z["online"])
    keep = np.random.default_rng(0).permutation(len(S))[:400]
    return {"n_states": int(len(S)), "n_episodes": int(cfg["probe_episodes"]), "probe": probe,
            "neighbour_agreement": {"trained": float(E.neighbour_agreement(Z["online"], S)),
                                    "untrained": float(E.neighbour_agreement(Z["initial"], S))},
            "encoder_target": agent.stats.get("encoder_target"), "encoder_updates": int(agent.total_updates),
            "encoder_refreshes": int(agent.encoder_refreshes), "encoder_refresh": int(agent.cfg.encoder_refresh),
            "pca": xy[keep].round(4).tolist(), "pca_return": G[keep].round(3).tolist()}


def run_result(cfg: dict, agent, hist: dict, t0: float, device: torch.device) -> dict:
    """The run JSON of a trained run: its history, the attack study of the policy its config names,
    and SALE's embedding analysis (``t0``: when the job began, for the wall time)."""
    embedding = embedding_analysis(agent, cfg)  # of the final agent
    policy = attack_policy(agent, cfg, hist)  # may load the best evaluated agent
    return {
        "id": cfg["run_id"], "task": "rl", "config": cfg,
        "metrics": {**{k: v for k, v in hist.items() if k not in ("train_time_s", "updates_per_s")},
                    "final_return": hist["eval_return"][-1], "best_return": max(hist["eval_return"]),
                    "attack_policy": policy, "robustness": robustness(agent, cfg, hist["obs_std"]),
                    "embedding": embedding},
        "timing": {"wall_time_s": time.perf_counter() - t0, "train_time_s": hist["train_time_s"],
                   "updates_per_s": hist["updates_per_s"]},
        "provenance": run_provenance(cfg, str(device), {"name": cfg["env_id"], "checksum": "simulator"}),
    }


def run(cfg: dict, out: Path, ckpt: Path | None = None, ckpt_interval_s: float = 300.0,
        stop_after: int | None = None) -> dict | None:
    t0 = time.perf_counter()
    device = choose_device(cfg.get("device", "auto"))
    agent, hist = train(cfg, device, ckpt, ckpt_interval_s, stop_after)
    if hist is None:
        return None
    return finish_run(out, run_result(cfg, agent, hist, t0, device), ckpt)


def main(argv: list[str] | None = None) -> int:
    cfg, args = train_args(__doc__.splitlines()[0], argv, ckpt=True)
    return exit_code(lambda: run(cfg, args.out, args.ckpt, args.ckpt_interval))


if __name__ == "__main__":
    sys.exit(main())
