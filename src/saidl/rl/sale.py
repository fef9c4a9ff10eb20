"""TD3 with SALE state and state-action embeddings (Fujimoto et al., NeurIPS 2023, "TD7").

SALE learns two embeddings with a self-predictive (latent dynamics) loss, decoupled from the
value objective::

    z_s  = f(s)         state encoder, 3 Linear layers + ELU, output AvgL1Norm
    z_sa = g(z_s, a)    state-action encoder, 3 Linear layers + ELU, no output norm
    L_enc = MSE(g(f(s), a), stopgrad f(s'))

and feeds them to the actor and the twin critics *next to* the raw input rather than instead
of it (TD7's design):

    actor  pi(s)     = tanh(MLP_relu([AvgL1Norm(W s), z_s]))
    critic Q_i(s, a) = MLP_elu([AvgL1Norm(W_i [s, a]), z_sa, z_s])

Why this way of combining (the assignment's "concatenate / share parameters / ..." choice):

* Concatenation keeps the raw input as a fallback, so a poor early embedding cannot make the
  task harder than plain TD3; the networks learn how much to rely on the embedding.
* z_sa is a prediction of the next latent state, i.e. the environment's dynamics in the
  critic's input; it lets Q(s, a) read off "where this action leads", which is exactly the
  quantity a one-step Bellman backup needs. The actor gets only z_s since it has no action input.
* The encoder is trained by its own loss only (no gradient from the critic or actor), so the
  embedding is a task-agnostic dynamics model and the value targets cannot collapse it.
* AvgL1Norm (divide by the mean absolute value of the vector) keeps every input block at unit
  scale, so neither the raw branch nor the embedding dominates, and z_s cannot shrink towards
  zero to make L_enc trivially small (the target f(s') always has mean |.| = 1). It rules out
  that scale collapse only; informative targets come from the dynamics themselves.
* Actor and critic read a *fixed* copy of the encoder, refreshed every ``encoder_refresh``
  (250) updates, and the TD target reads the previous fixed copy ("fixed target encoder").
  Between refreshes the critic's input features are stationary, as its regression needs;
  the target side lags one refresh period like a target network.

What of TD7 is in, and what is out (and why):

in   SALE encoders, AvgL1Norm, the actor/critic architectures above (ReLU actor, ELU critic),
     fixed encoder + fixed target encoder refreshed every 250 updates, encoder Adam lr 3e-4
     trained every update on the sampled batch, actions fed to the networks divided by
     ``max_action`` (TD7 stores actions that way).
out  * TD7's hard target copies every 250 steps: this class keeps TD3's Polyak targets
       (tau = 0.005, updated with the delayed actor) so that the only difference from the TD3
       baseline of this project is the representation (a clean ablation). Polyak's time constant
       1/tau = 200 updates is close to the 250-step refresh, so the target critic is mostly made
       of critics that were trained on the previous fixed encoder, which is the one the target
       reads; the pairing is approximate where TD7's is exact.
     * LAP prioritisation and its Huber loss: the project's replay is PER/uniform, passed in
       as ``weights``; the critic loss is the importance-weighted MSE.
     * Value clipping of the target to the range seen so far: a stabiliser for hard target
       copies, and not part of TD3.
     * Policy checkpoints (evaluate the checkpoint actor): an evaluation-protocol change that
       would make SALE's returns incomparable with the other variants.
     * Target policy smoothing is off by default (the assignment excludes it); switch it on
       with ``target_policy_smoothing=True`` (noise 0.2, clip 0.5, times max_action).
     * The actor loss is TD3's -mean Q_1 (TD7 averages both heads).

Encoder targets and n-step replay: the encoder is trained on one-step pairs (s_t, a_t, s_{t+1})
as in TD7, whatever n the value target uses. The replay buffer stores the one-step next state
``next_obs1`` (s_{t+1}) beside the n-step ``next_obs`` (s_{t+k}, for the critic's target), and
:meth:`SALETD3.update` requires it: a batch without ``next_obs1`` is an error rather than a
silent switch to f(s_{t+k}), which would make g predict k steps ahead from the first action only.
``stats["encoder_target"]`` records the key used.

Control for the embedding analysis: :attr:`SALETD3.initial_encoder` is a frozen copy of the
encoder as initialised (same architecture, same random weights the training started from), so a
probe can separate what training taught the encoder from what a random network of the same size
already exposes.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saidl.rl.td3 import set_requires_grad


class _ELU(torch.autograd.Function):
    """ELU (alpha = 1) whose forward computes expm1 in float64; the backward is ``F.elu``'s."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        # x <= 0: expm1(x); x > 0: expm1(0) + x = x. float64 expm1 rounded to float32 is within
        # one ulp of float32 expm1 (it is the correctly rounded value almost always).
        return torch.expm1(x.clamp_max(0.0).double()).to(x.dtype).add_(x.clamp_min(0.0))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return torch.ops.aten.elu_backward(grad, 1.0, 1.0, 1.0, False, x)  # = F.elu's gradient


def elu(x: torch.Tensor) -> torch.Tensor:
    """``F.elu`` (alpha = 1). On CPU through :class:`_ELU`: torch's float32 ``expm1`` (hence
    ``F.elu``) is a slow kernel on CPU (about 10 ns per element, 24 ELUs of 256 x 256 per SALE
    update, a third of its time), the float64 one is 3 times faster. Forward values agree
    with ``F.elu`` to one float32 ulp, gradients exactly."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return F.elu(x)
    return _ELU.apply(x)


def AvgL1Norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:  # noqa: N802 (paper's name)
    """x / mean(|x|) over the last dimension: each vector gets mean absolute value 1."""
    return x / x.abs().mean(dim=-1, keepdim=True).clamp(min=eps)


class StateEncoder(nn.Module):
    """f: s -> z_s, three Linear layers with ELU between them, AvgL1Norm on the output."""

    def __init__(self, obs_dim: int, zs_dim: int = 256, hidden: int = 256):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(obs_dim, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, zs_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = elu(self.l2(elu(self.l1(obs))))
        return AvgL1Norm(self.l3(h))


class StateActionEncoder(nn.Module):
    """g: (z_s, a) -> z_sa, three Linear layers with ELU between them, no output norm."""

    def __init__(self, act_dim: int, zs_dim: int = 256, hidden: int = 256):
        super().__init__()
        self.l1 = nn.Linear(zs_dim + act_dim, hidden)
        self.l2, self.l3 = nn.Linear(hidden, hidden), nn.Linear(hidden, zs_dim)

    def forward(self, zs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        h = elu(self.l2(elu(self.l1(torch.cat([zs, act], -1)))))
        return self.l3(h)


class SALEEncoder(nn.Module):
    """The pair (f, g) trained together by :meth:`loss`."""

    def __init__(self, obs_dim: int, act_dim: int, zs_dim: int = 256, hidden: int = 256):
        super().__init__()
        self.f = StateEncoder(obs_dim, zs_dim, hidden)
        self.g = StateActionEncoder(act_dim, zs_dim, hidden)

    def zs(self, obs: torch.Tensor) -> torch.Tensor:
        return self.f(obs)

    def zsa(self, zs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.g(zs, act)

    def loss(self, obs: torch.Tensor, act: torch.Tensor, next_obs1: torch.Tensor) -> torch.Tensor:
        """MSE(g(f(s_t), a_t), stopgrad f(s_{t+1})); ``next_obs1`` is the one-step next
        state, not an n-step s_{t+k}. The target is the current encoder under no-grad."""
        with torch.no_grad():
            target = self.f(next_obs1)
        return F.mse_loss(self.g(self.f(obs), act), target)


class SALEActorHead(nn.Module):
    """(s, z_s) -> a in [-1, 1]: [AvgL1Norm(Linear(s)), z_s] -> 256 ReLU -> 256 ReLU -> tanh."""

    def __init__(self, obs_dim: int, act_dim: int, zs_dim: int = 256, hidden: int = 256):
        super().__init__()
        self.l0 = nn.Linear(obs_dim, hidden)
        self.l1, self.l2 = nn.Linear(hidden + zs_dim, hidden), nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, act_dim)

    def forward(self, obs: torch.Tensor, zs: torch.Tensor) -> torch.Tensor:
        h = torch.cat([AvgL1Norm(self.l0(obs)), zs], -1)
        return torch.tanh(self.l3(F.relu(self.l2(F.relu(self.l1(h))))))


class _QHead(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, zs_dim: int, hidden: int):
        super().__init__()
        self.l0 = nn.Linear(obs_dim + act_dim, hidden)
        self.l1, self.l2 = nn.Linear(hidden + 2 * zs_dim, hidden), nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)

    def forward(self, sa: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = torch.cat([AvgL1Norm(self.l0(sa)), emb], -1)
        return self.l3(elu(self.l2(elu(self.l1(h))))).squeeze(-1)


class SALECritic(nn.Module):
    """Twin Q: [AvgL1Norm(Linear(s, a)), z_sa, z_s] -> 256 ELU -> 256 ELU -> 1, two heads."""

    def __init__(self, obs_dim: int, act_dim: int, zs_dim: int = 256, hidden: int = 256):
        super().__init__()
        self.q1_head = _QHead(obs_dim, act_dim, zs_dim, hidden)
        self.q2_head = _QHead(obs_dim, act_dim, zs_dim, hidden)

    def forward(self, obs, act, zsa, zs) -> tuple[torch.Tensor, torch.Tensor]:
        sa, emb = torch.cat([obs, act], -1), torch.cat([zsa, zs], -1)
        return self.q1_head(sa, emb), self.q2_head(sa, emb)

    def q1(self, obs, act, zsa, zs) -> torch.Tensor:
        return self.q1_head(torch.cat([obs, act], -1), torch.cat([zsa, zs], -1))


class SALEPolicy(nn.Module):
    """obs -> action (env units): the fixed encoder's z_s, then the actor head, times max_action.

    This is ``SALETD3.actor`` (what the shared contract and the attacks call). It holds
    references to the agent's fixed encoder and actor head, so it follows their updates and
    encoder refreshes; its parameters are those two modules' parameters.
    """

    def __init__(self, encoder: SALEEncoder, head: SALEActorHead, max_action: float):
        super().__init__()
        self.encoder, self.head, self.max_action = encoder, head, float(max_action)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.max_action * self.head(obs, self.encoder.zs(obs))


@dataclass
class SALEConfig:
    gamma: float = 0.99
    tau: float = 0.005
    policy_delay: int = 2
    lr: float = 3e-4  # actor, critic and encoder
    batch_size: int = 256  # informational: the batch comes from the caller
    expl_noise: float = 0.1  # Gaussian exploration std, times max_action
    target_policy_smoothing: bool = False
    target_noise: float = 0.2  # times max_action, used only with smoothing
    noise_clip: float = 0.5  # times max_action
    max_action: float = 1.0
    zs_dim: int = 256
    hidden: int = 256  # width of every hidden layer (actor, critic, encoders)
    encoder_refresh: int = 250  # TD7's target_update_rate
    seed: int | None = None
    device: str | None = None


def _as_config(cfg, overrides: dict) -> tuple[SALEConfig, list[str]]:
    if cfg is None:
        raw = {}
    elif isinstance(cfg, dict):
        raw = dict(cfg)
    elif dataclasses.is_dataclass(cfg):
        raw = dataclasses.asdict(cfg)
    else:
        raw = dict(vars(cfg))
    raw.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name for f in dataclasses.fields(SALEConfig)}
    ignored = sorted(k for k in raw if k not in names)
    return SALEConfig(**{k: v for k, v in raw.items() if k in names}), ignored


def _adam(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam; fused (one kernel per step, CPU support since torch 2.4) on CPU/CUDA: the same update
    rule as the default for-loop Adam up to floating-point rounding."""
    return torch.optim.Adam(params, lr=lr, fused=True if device.type in ("cpu", "cuda") else None)


@torch.no_grad()
def _polyak(tp: list, op: list, tau: float) -> None:
    """t <- t + tau (o - t) over two parameter lists (walked once, in ``SALETD3.__init__``)."""
    torch._foreach_lerp_(tp, op, tau)


class SALETD3:
    """TD3 (clipped double Q, delayed actor, Polyak targets) on SALE embeddings.

    ``cfg``: a dict, a dataclass (e.g. :class:`SALEConfig`) or None; keys not in
    :class:`SALEConfig` are ignored and listed in ``self.ignored_cfg_keys``. ``seed`` and
    ``device`` keyword arguments override the config's.

    Shared contract: ``act(obs, explore)``, ``update(batch) -> dict``, ``actor`` (obs -> action
    in env units), ``q_value(obs, act) -> Q1 (B,)``; plus ``embed(obs) -> z_s``.
    """

    def __init__(self, obs_dim: int, act_dim: int, cfg=None, *, seed: int | None = None, device=None):
        self.cfg, self.ignored_cfg_keys = _as_config(cfg, {"seed": seed})
        c = self.cfg
        self.device = torch.device(device if device is not None else (c.device or "cpu"))
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.max_action = float(c.max_action)
        if c.seed is not None:
            torch.manual_seed(c.seed)
        self.rng = np.random.default_rng(c.seed)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(0 if c.seed is None else int(c.seed))

        dims = dict(zs_dim=c.zs_dim, hidden=c.hidden)
        self.encoder = SALEEncoder(obs_dim, act_dim, **dims).to(self.device)
        self.fixed_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.fixed_encoder_target = copy.deepcopy(self.encoder).requires_grad_(False)
        self.initial_encoder = copy.deepcopy(self.encoder).requires_grad_(False)  # the untrained control
        self.actor_head = SALEActorHead(obs_dim, act_dim, **dims).to(self.device)
        self.actor_target = copy.deepcopy(self.actor_head).requires_grad_(False)
        self.critic = SALECritic(obs_dim, act_dim, **dims).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor = SALEPolicy(self.fixed_encoder, self.actor_head, self.max_action)
        # Parameter lists walked once (load_state_dict copies into these same tensors).
        self._params = {name: list(getattr(self, name).parameters())
                        for name in ("critic", "critic_target", "actor_head", "actor_target")}

        self.encoder_opt = _adam(self.encoder.parameters(), c.lr, self.device)
        self.actor_opt = _adam(self.actor_head.parameters(), c.lr, self.device)
        self.critic_opt = _adam(self.critic.parameters(), c.lr, self.device)

        self.total_updates = 0
        self.actor_updates = 0
        self.encoder_refreshes = 0
        self.stats: dict = {}

    # ------------------------------------------------------------------ acting / analysis
    def _obs_tensor(self, obs) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        """Deterministic action (+ N(0, (expl_noise * max_action)^2) if ``explore``), clipped.

        ``obs``: (obs_dim,) or (B, obs_dim); the result has the matching leading shape.
        """
        x = self._obs_tensor(obs)
        single = x.ndim == 1
        a = self.actor(x[None] if single else x).cpu().numpy()
        if explore:
            a = a + self.rng.normal(0.0, self.cfg.expl_noise * self.max_action, size=a.shape)
        a = np.clip(a, -self.max_action, self.max_action).astype(np.float32)
        return a[0] if single else a

    def q_value(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Q1(obs, act) (B,) through the fixed encoder, as the actor's loss sees it.

        Differentiable in ``obs`` and ``act`` (the attacks use it); ``act`` in env units.
        """
        a = act / self.max_action
        zs = self.fixed_encoder.zs(obs)
        return self.critic.q1(obs, a, self.fixed_encoder.zsa(zs, a), zs)

    @torch.no_grad()
    def embed(self, obs: torch.Tensor, which: str = "fixed") -> torch.Tensor:
        """z_s (B, zs_dim). ``which="fixed"``: the encoder the actor and critic read (default);
        ``"online"``: the encoder being trained (up to ``encoder_refresh`` updates newer);
        ``"initial"``: the encoder as initialised, before any update (the untrained control)."""
        enc = {"fixed": self.fixed_encoder, "online": self.encoder, "initial": self.initial_encoder}[which]
        return enc.zs(torch.as_tensor(obs, dtype=torch.float32, device=self.device))

    @torch.no_grad()
    def embed_sa(self, obs: torch.Tensor, act: torch.Tensor, which: str = "fixed") -> torch.Tensor:
        """z_sa (B, zs_dim) for env-unit actions."""
        enc = {"fixed": self.fixed_encoder, "online": self.encoder, "initial": self.initial_encoder}[which]
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        act = torch.as_tensor(act, dtype=torch.float32, device=self.device) / self.max_action
        return enc.zsa(enc.zs(obs), act)

    # ------------------------------------------------------------------ learning
    def update(self, batch: dict) -> dict:
        """One gradient step of the encoder and the critic; the actor and Polyak targets every
        ``policy_delay`` steps; the fixed encoders refresh every ``encoder_refresh`` steps."""
        c = self.cfg
        dev = self.device

        def get(key):
            return batch[key].to(dev, dtype=torch.float32, non_blocking=True)

        obs, next_obs = get("obs"), get("next_obs")
        act = get("act") / self.max_action
        rew, done, discount = get("rew"), get("done"), get("discount")
        weights = get("weights") if "weights" in batch else torch.ones_like(rew)
        if batch.get("next_obs1") is None:
            raise KeyError("SALETD3.update needs batch['next_obs1'], the one-step next state s_{t+1}: SALE's "
                           "encoder learns f(s_{t+1}), not f(s_{t+k}) of an n-step transition (ReplayBuffer stores it)")
        next_obs1 = get("next_obs1")

        # 1. Encoder: self-predictive loss on (s, a, s_{t+1}).
        enc_loss = self.encoder.loss(obs, act, next_obs1)
        self.encoder_opt.zero_grad(set_to_none=True)
        enc_loss.backward()
        self.encoder_opt.step()

        # 2. Critic: clipped double-Q target through the fixed *target* encoder.
        with torch.no_grad():
            zs_next = self.fixed_encoder_target.zs(next_obs)
            next_act = self.actor_target(next_obs, zs_next)
            if c.target_policy_smoothing:
                noise = torch.randn(next_act.shape, generator=self.gen, device=dev) * c.target_noise
                next_act = (next_act + noise.clamp(-c.noise_clip, c.noise_clip)).clamp(-1.0, 1.0)
            zsa_next = self.fixed_encoder_target.zsa(zs_next, next_act)
            q1_t, q2_t = self.critic_target(next_obs, next_act, zsa_next, zs_next)
            y = rew + discount * (1.0 - done) * torch.minimum(q1_t, q2_t)
            zs = self.fixed_encoder.zs(obs)
            zsa = self.fixed_encoder.zsa(zs, act)
        q1, q2 = self.critic(obs, act, zsa, zs)
        err1, err2 = q1 - y, q2 - y
        critic_loss = (weights * (err1.pow(2) + err2.pow(2))).mean()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        td_errors = torch.maximum(err1.abs(), err2.abs()).detach().cpu().numpy()

        self.total_updates += 1
        # 3. Delayed actor and Polyak targets (TD3).
        actor_loss, actor_updated = None, False
        if self.total_updates % c.policy_delay == 0:
            pi = self.actor_head(obs, zs)
            P = self._params
            set_requires_grad(P["critic"], False)  # only d Q_1 / d a is needed, not Q's weight gradients
            q_pi = self.critic.q1(obs, pi, self.fixed_encoder.zsa(zs, pi), zs)
            loss = -q_pi.mean()
            self.actor_opt.zero_grad(set_to_none=True)
            loss.backward()
            set_requires_grad(P["critic"], True)
            self.actor_opt.step()
            _polyak(P["critic_target"], P["critic"], c.tau)
            _polyak(P["actor_target"], P["actor_head"], c.tau)
            actor_loss, actor_updated = float(loss.item()), True
            self.actor_updates += 1

        # 4. Fixed encoders (TD7): target <- fixed, fixed <- online, every encoder_refresh steps.
        if self.total_updates % c.encoder_refresh == 0:
            self.fixed_encoder_target.load_state_dict(self.fixed_encoder.state_dict())
            self.fixed_encoder.load_state_dict(self.encoder.state_dict())
            self.encoder_refreshes += 1

        self.stats = {"encoder_target": "next_obs1"}
        return {"critic_loss": float(critic_loss.item()), "actor_loss": actor_loss, "td_errors": td_errors,
                "actor_updated": actor_updated, "encoder_loss": float(enc_loss.item()),
                "q_mean": float(q1.detach().mean().item())}

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict:
        mods = ("encoder", "fixed_encoder", "fixed_encoder_target", "initial_encoder", "actor_head", "actor_target",
                "critic", "critic_target", "encoder_opt", "actor_opt", "critic_opt")
        return {**{m: getattr(self, m).state_dict() for m in mods},
                "counters": (self.total_updates, self.actor_updates, self.encoder_refreshes)}

    def load_state_dict(self, state: dict) -> None:
        for m, sd in state.items():
            if m != "counters":
                getattr(self, m).load_state_dict(sd)
        self.total_updates, self.actor_updates, self.encoder_refreshes = state["counters"]
