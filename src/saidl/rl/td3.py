"""TD3 (Fujimoto et al., ICML 2018): clipped double-Q, delayed policy updates, Polyak targets.

One story, top to bottom: the hyperparameters (``TD3Config``), the agent's networks and
optimisers, ``act`` (exploration) and ``update`` (one gradient step on a replay batch).

    y = r + discount * (1 - d) * min(Q'_1(s', a'), Q'_2(s', a'))      discount = gamma^n
    a' = pi'(s')  [+ clip(N(0, 0.2 max), -0.5 max, 0.5 max), clipped to bounds, if smoothing]
    critic loss = mean(w * ((Q_1(s, a) - y)^2 + (Q_2(s, a) - y)^2))  w: PER importance weights
    every d critic steps: actor loss = -mean Q_1(s, pi(s)); then theta' <- tau theta + (1-tau) theta'

Noisy Nets (``noisy``: a law from ``saidl.rl.noise``): the actor's linear layers are NoisyLinear
and replace the additive Gaussian exploration. Noise is resampled at every exploring ``act``
and before every actor loss; evaluation (``explore=False``) and the target actor pi' use the mean
weights mu (the target actor is kept in eval mode).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from saidl.rl.networks import Actor, Critic
from saidl.rl.noise import DISTRIBUTIONS


@dataclass
class TD3Config:
    gamma: float = 0.99                    # discount per env step
    tau: float = 0.005                     # Polyak rate of the target networks
    policy_delay: int = 2                  # d: critic steps per actor (and target) step
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    batch_size: int = 256                  # read by the training loop, not by ``update``
    hidden: int = 256                      # width of both hidden layers, actor and critics
    expl_noise: float = 0.1                # std of N(0, expl_noise * max_action), non-noisy actor
    target_policy_smoothing: bool = False  # off for this task; TD3's default is on
    policy_noise: float = 0.2              # smoothing noise std, times max_action
    noise_clip: float = 0.5                # smoothing noise clip, times max_action
    n_step: int = 1                        # read by the buffer; ``update`` uses batch["discount"]
    noisy: str | None = None               # None or a noise law: Noisy Nets actor
    sigma0: float = 0.017                  # Noisy Nets initial sigma (independent variant)
    max_action: float = 1.0                # Hopper: actions in [-1, 1]

    def __post_init__(self):
        if self.noisy is not None and self.noisy not in DISTRIBUTIONS:
            raise ValueError(f"noisy must be None or one of {DISTRIBUTIONS}, got {self.noisy!r}")
        if self.policy_delay < 1 or self.n_step < 1:
            raise ValueError("policy_delay and n_step must be >= 1")


@torch.no_grad()
def polyak_update(target: nn.Module | list, source: nn.Module | list, tau: float) -> None:
    """theta_target <- tau * theta_source + (1 - tau) * theta_target, for every parameter.
    ``target``/``source``: modules, or their parameter lists (cached by the caller: walking a
    module's parameters costs more than the update itself at the demo's sizes)."""
    t_params = target if isinstance(target, list) else list(target.parameters())
    s_params = source if isinstance(source, list) else list(source.parameters())
    torch._foreach_mul_(t_params, 1.0 - tau)
    torch._foreach_add_(t_params, s_params, alpha=tau)


def set_requires_grad(params: list, flag: bool) -> None:
    """``Module.requires_grad_`` on a cached parameter list."""
    for p in params:
        p.requires_grad_(flag)


class TD3:
    def __init__(self, obs_dim: int, act_dim: int, cfg: TD3Config | None = None,
                 device: str | torch.device = "cpu", seed: int = 0):
        self.cfg = cfg = cfg or TD3Config()
        self.obs_dim, self.act_dim, self.device = obs_dim, act_dim, torch.device(device)
        with torch.random.fork_rng(devices=[]):  # initialisation depends on `seed` only
            torch.manual_seed(seed)
            self.actor = Actor(obs_dim, act_dim, cfg.hidden, cfg.noisy, cfg.max_action,
                               cfg.sigma0).to(self.device)
            self.critic = Critic(obs_dim, act_dim, cfg.hidden).to(self.device)
        self.actor_target = copy.deepcopy(self.actor).eval()  # eval: mean weights if noisy
        self.critic_target = copy.deepcopy(self.critic)
        for p in (*self.actor_target.parameters(), *self.critic_target.parameters()):
            p.requires_grad_(False)
        # Parameter lists walked once (load_state_dict copies into these same tensors).
        self._params = {name: list(getattr(self, name).parameters())
                        for name in ("actor", "critic", "actor_target", "critic_target")}
        # Fused Adam (one kernel per parameter; CPU support since torch 2.4): the update rule of the
        # default foreach Adam up to floating-point rounding, 2-3x faster on CPU (as in sale.py).
        fused = True if self.device.type in ("cpu", "cuda") else None
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr, fused=fused)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, fused=fused)
        self.generator = torch.Generator(self.device).manual_seed(seed)  # every noise draw
        self.total_updates = 0
        self.actor_updates = 0

    # ---- acting ------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Action(s) for obs of shape (obs_dim,) or (B, obs_dim), as float32 numpy."""
        cfg = self.cfg
        s = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        if cfg.noisy:
            if explore:  # parameter-space exploration: fresh eps, no action noise
                self.actor.resample_noise(self.generator)
            self.actor.train(explore)
            a = self.actor(s)
            self.actor.train()
        else:
            a = self.actor(s)
            if explore:
                eps = torch.randn(a.shape, generator=self.generator, device=self.device)
                a = (a + cfg.expl_noise * cfg.max_action * eps).clamp(-cfg.max_action,
                                                                      cfg.max_action)
        return a.cpu().numpy()

    # ---- learning ----------------------------------------------------------------------------
    @torch.no_grad()
    def target_action(self, next_obs: torch.Tensor) -> torch.Tensor:
        """a' = pi'(s'), plus TD3's clipped smoothing noise if ``target_policy_smoothing``."""
        cfg = self.cfg
        a = self.actor_target(next_obs)
        if cfg.target_policy_smoothing:
            eps = torch.randn(a.shape, generator=self.generator, device=self.device)
            eps = (cfg.policy_noise * cfg.max_action * eps).clamp(-cfg.noise_clip * cfg.max_action,
                                                                  cfg.noise_clip * cfg.max_action)
            a = (a + eps).clamp(-cfg.max_action, cfg.max_action)
        return a

    @torch.no_grad()
    def td_target(self, rew: torch.Tensor, next_obs: torch.Tensor, done: torch.Tensor,
                  discount: torch.Tensor) -> torch.Tensor:
        """y = r + discount * (1 - done) * min_j Q'_j(s', a'), shape (B,)."""
        q1_t, q2_t = self.critic_target(next_obs, self.target_action(next_obs))
        return rew + discount * (1.0 - done) * torch.min(q1_t, q2_t)

    def update(self, batch: dict) -> dict:
        """One critic step, and every ``policy_delay`` calls an actor step plus target update.

        batch: float32 tensors obs (B, obs_dim), act (B, act_dim), rew, done, discount,
        weights (B,) [(B, 1) accepted], next_obs (B, obs_dim).
        """
        cfg = self.cfg
        b = {k: torch.as_tensor(batch[k], dtype=torch.float32, device=self.device)
             for k in ("obs", "act", "rew", "next_obs", "done", "discount", "weights")}
        obs, act, next_obs = b["obs"], b["act"], b["next_obs"]
        rew, done, discount, w = (b[k].reshape(-1) for k in ("rew", "done", "discount", "weights"))

        # critic: weighted clipped double-Q regression onto y
        y = self.td_target(rew, next_obs, done, discount)
        q1, q2 = self.critic(obs, act)
        critic_loss = (w * ((q1 - y) ** 2 + (q2 - y) ** 2)).mean()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        self.total_updates += 1

        # delayed actor and target updates
        actor_loss = None
        actor_updated = self.total_updates % cfg.policy_delay == 0
        if actor_updated:
            if cfg.noisy:
                self.actor.resample_noise(self.generator)
            P = self._params
            set_requires_grad(P["critic"], False)  # only d Q_1 / d a is needed
            actor_loss_t = -self.critic.q1(obs, self.actor(obs)).mean()
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss_t.backward()
            self.actor_optimizer.step()
            set_requires_grad(P["critic"], True)
            polyak_update(P["actor_target"], P["actor"], cfg.tau)
            polyak_update(P["critic_target"], P["critic"], cfg.tau)
            self.actor_updates += 1
            actor_loss = actor_loss_t.item()

        td_errors = torch.max((q1 - y).abs(), (q2 - y).abs()).detach()
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss,
                "td_errors": td_errors.cpu().numpy(), "actor_updated": actor_updated,
                "total_updates": self.total_updates, "actor_updates": self.actor_updates}

    def q_value(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Q1(obs, act) as a (B,) tensor: what the critic-gradient attack minimises."""
        return self.critic.q1(obs, act).reshape(-1)

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"cfg": asdict(self.cfg), "actor": self.actor.state_dict(),
                "critic": self.critic.state_dict(), "actor_target": self.actor_target.state_dict(),
                "critic_target": self.critic_target.state_dict(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict(),
                "generator": self.generator.get_state(), "total_updates": self.total_updates,
                "actor_updates": self.actor_updates}

    def load_state_dict(self, state: dict) -> None:
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_optimizer",
                     "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.generator.set_state(state["generator"].cpu())
        self.total_updates, self.actor_updates = state["total_updates"], state["actor_updates"]
