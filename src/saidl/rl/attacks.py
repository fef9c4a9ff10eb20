"""Observation attacks at evaluation time, and the evaluation loop that applies them.

The adversary perturbs only what the agent *sees*: s_seen = s + delta with
``|delta_j| <= eps * scale_j`` (an L-infinity ball; ``scale`` is e.g. the observation's running
std, so eps is in standard deviations; ``scale=None`` means raw units). The environment's state
is never changed.

* ``random``: a random corner of the same ball, delta_j = +-eps * scale_j with an independent
  random sign per coordinate and step: the baseline any policy should tolerate at small eps. A
  corner has the ball's full L-infinity norm and the largest L2 norm in the ball, so random noise
  is never smaller in norm than the critic attack it is compared with (whose PGD iterates stay
  inside the ball). ``law="uniform"`` draws delta ~ U[-eps * scale, eps * scale] instead.
* ``critic``: a critic-gradient attack in the spirit of Pattanaik et al. (AAMAS 2018), with a
  PGD inner loop (Madry et al., 2018): minimise the agent's own value of what it would do,
  ``Q1(s + delta, pi(s + delta))`` (default, ``q_at="perturbed"``), by signed-gradient steps
  on delta, projected back to the ball after each step. ``q_at="true"`` minimises
  ``Q1(s, pi(s + delta))`` instead: the critic judges the induced action at the true state, so
  the attack cannot "win" by merely moving the critic's input to a low-value region. It is
  white-box (needs the critic), so it is a stronger test than random noise at the same eps; it
  can still be weaker than attacks that maximise the action change (e.g. MAD, Zhang et al.,
  2020), since the critic is only an estimate of the return. The perturbed observation returned
  is the one, among all iterates and delta = 0, with the lowest objective (per state), so the
  attack never raises it.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn


def _radius(obs: np.ndarray, eps: float, scale) -> np.ndarray:
    r = np.full(obs.shape[-1], float(eps), dtype=np.float64)
    if scale is not None:
        r = r * np.asarray(scale, dtype=np.float64).reshape(-1)
    if np.any(r < 0):
        raise ValueError("eps and scale must be non-negative")
    return r


def random_perturbation(obs: np.ndarray, eps: float, rng: np.random.Generator,
                        scale: np.ndarray | None = None, law: str = "corner") -> np.ndarray:
    """obs + delta with delta_j = +-eps*scale_j, random signs (``law="corner"``: a random corner of
    the L-inf ball), or delta ~ U[-eps*scale, eps*scale] (``law="uniform"``); ``obs`` (obs_dim,)
    or (B, obs_dim)."""
    obs = np.asarray(obs)
    r = _radius(obs, eps, scale)
    if law == "corner":
        delta = rng.choice(np.array([-1.0, 1.0]), size=obs.shape) * r
    elif law == "uniform":
        delta = rng.uniform(-1.0, 1.0, size=obs.shape) * r
    else:
        raise ValueError(f"unknown random law {law!r}; use 'corner' or 'uniform'")
    return (obs + delta).astype(obs.dtype if obs.dtype.kind == "f" else np.float32)


def _agent_modules(agent) -> list[nn.Module]:
    mods = [v for v in vars(agent).values() if isinstance(v, nn.Module)]
    actor = getattr(agent, "actor", None)
    if isinstance(actor, nn.Module) and all(actor is not m for m in mods):
        mods.append(actor)
    return mods


def _device(agent) -> torch.device:
    for p in agent.actor.parameters():
        return p.device
    return torch.device("cpu")


def critic_attack(obs: np.ndarray, agent, eps: float, steps: int = 10, step_size: float | None = None,
                  scale: np.ndarray | None = None, q_at: str = "perturbed") -> np.ndarray:
    """PGD on delta minimising ``agent.q_value(s + delta, agent.actor(s + delta))``
    (``q_at="true"``: ``agent.q_value(s, agent.actor(s + delta))``).

    ``obs``: (obs_dim,) or (B, obs_dim). ``step_size`` is in eps units like eps (default eps / 4),
    so each step moves every coordinate by ``step_size * scale_j``. Returns s + delta with the
    lowest Q among delta = 0 and the PGD iterates, per state, with ``|delta_j| <= eps * scale_j``.
    The agent's modules are put in eval mode (Noisy Nets use their mean weights) and restored
    afterwards; gradients are taken with respect to delta only (``torch.autograd.grad``), so no
    ``.grad`` is written to the agent's parameters.
    """
    obs = np.asarray(obs)
    if q_at not in ("perturbed", "true"):
        raise ValueError(f"q_at must be 'perturbed' or 'true', got {q_at!r}")
    if eps <= 0 or steps <= 0:
        return obs.copy()
    single = obs.ndim == 1
    dev = _device(agent)
    radius = torch.as_tensor(_radius(obs, eps, scale), dtype=torch.float32, device=dev)
    alpha = (eps / 4.0 if step_size is None else float(step_size)) / float(eps) * radius
    s = torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32, device=dev)

    modules = _agent_modules(agent)
    flags = [(m, m.training) for mod in modules for m in mod.modules()]
    for mod in modules:
        mod.eval()
    try:
        def value(x: torch.Tensor) -> torch.Tensor:
            return agent.q_value(x if q_at == "perturbed" else s, agent.actor(x)).reshape(-1)

        with torch.no_grad():
            best_q = value(s)
        best_delta = torch.zeros_like(s)
        delta = torch.zeros_like(s)
        for _ in range(steps):
            delta.requires_grad_(True)
            with torch.enable_grad():
                q = value(s + delta)
                (grad,) = torch.autograd.grad(q.sum(), delta)
            with torch.no_grad():
                delta = torch.maximum(torch.minimum(delta - alpha * grad.sign(), radius), -radius)
                q_new = value(s + delta)
                better = q_new < best_q
                best_q = torch.where(better, q_new, best_q)
                best_delta = torch.where(better[:, None], delta, best_delta)
            delta = delta.detach()
    finally:
        for m, flag in flags:
            m.train(flag)
    # Clip again in float64 so float32 rounding cannot step outside the ball.
    r = _radius(obs, eps, scale)
    out = np.atleast_2d(obs).astype(np.float64) + np.clip(best_delta.cpu().numpy().astype(np.float64), -r, r)
    out = out.astype(obs.dtype if obs.dtype.kind == "f" else np.float32)
    return out[0] if single else out


def evaluate(agent, env_id: str = "Hopper-v4", episodes: int = 5, eps: float = 0.0, attack: str = "none",
             seed: int = 0, scale: np.ndarray | None = None, max_steps: int | None = 1000,
             steps: int = 10, step_size: float | None = None, q_at: str = "perturbed") -> dict:
    """Deterministic-policy returns with the observations the agent sees perturbed.

    Episode i is reset with seed ``seed + 100 + i``. ``attack``: "none" | "random" | "critic"
    (``steps``/``step_size``/``q_at`` configure the critic attack). An episode ends at termination,
    the environment's time limit or ``max_steps`` (None: no extra limit). Returns
    ``{"mean", "std" (population), "returns", "lengths", "eps", "attack"}``.
    """
    import gymnasium as gym

    if attack not in ("none", "random", "critic"):
        raise ValueError(f"unknown attack {attack!r}; use 'none', 'random' or 'critic'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Hopper-v4's deprecation warning
        env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    returns, lengths = [], []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + 100 + i)
            total, t, done = 0.0, 0, False
            while not done and (max_steps is None or t < max_steps):
                seen = obs
                if eps > 0 and attack == "random":
                    seen = random_perturbation(obs, eps, rng, scale)
                elif eps > 0 and attack == "critic":
                    seen = critic_attack(obs, agent, eps, steps=steps, step_size=step_size, scale=scale, q_at=q_at)
                obs, r, term, trunc, _ = env.step(agent.act(seen, explore=False))
                total, t, done = total + float(r), t + 1, bool(term or trunc)
            returns.append(total)
            lengths.append(t)
    finally:
        env.close()
    return {"mean": float(np.mean(returns)), "std": float(np.std(returns)), "returns": returns,
            "lengths": lengths, "eps": float(eps), "attack": attack}
