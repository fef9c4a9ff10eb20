"""K TD3 runs trained as one batched agent (``pack_mode: vmap`` in an RL scale block).

The members of a pack share the network shapes and the training schedule (:data:`PACK_SHARED_KEYS`
of ``saidl.rl.grid``): plain TD3 runs of several seeds, or noisy-net runs of several seeds and
noise laws. Each member keeps its own environment, replay buffer, n-step accumulator, noise
generator (exploration noise and noisy-net draws, in the order the run alone draws them), history,
evaluations, best policy, attack study and run JSON: ``saidl.rl.train.RunLoop`` does all of that,
for a run alone and for a pack member alike. What is batched is the agent: the K actors, critics
and their targets are stacked into (K, ...) tensors, and one step acts for all K members
(``act``) or updates all of them (``update``):

* the losses are the members' own (critic: PER-weighted clipped double-Q; actor: -Q_1), summed, so
  each member's parameters get the gradient of its own loss alone; a member that diverges (NaN)
  only poisons itself;
* one Adam over the stacked tensors is K independent Adams (Adam acts element by element and the
  members step together), and the Polyak update of the targets is element-wise too.

How the layers run: on CUDA (``exact=False``) every linear layer is one ``baddbmm`` over the K
members, which is what packing is for (a TD3 update of 256-wide networks leaves a GPU idle between
kernel launches; K members cost about the launches of one). On a CPU (``exact=True``) each member's
layer is its own ``F.linear``, on its slice of the stacked weights: the CPU gains nothing from
batching products this size, and MKL's batched products sum in another order than the alone
run's for some shapes (one observation, 1-wide heads, some widths), so only this way does a
member's run JSON equal the same run trained alone bit for bit (``tests/test_rl_packing.py``).
Batched, the numbers agree with the runs alone to float32 rounding at first and then drift apart
as training amplifies the differences (the test states the tolerance).

The members are evaluated, attacked and analysed by the alone code, on their own agents, into
which :meth:`PackedTD3.sync` copies the stacked weights.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from saidl.common.checkpoint import finish_run, load_checkpoint, save_checkpoint
from saidl.common.errors import ConfigError
from saidl.common.runtime import choose_device
from saidl.common.stacked import check_shared
from saidl.rl.noise import sample_noise
from saidl.rl.td3 import polyak_update

NETS = ("actor", "critic", "actor_target", "critic_target")
LAYERS = (0, 2, 4)  # the Linear (or NoisyLinear) layers of every Sequential of the actor and critic


def check_members(cfgs: list[dict]) -> None:
    """A ConfigError naming the first key that members of one batched pack do not share."""
    from saidl.rl.grid import PACK_SHARED_KEYS, pack_family

    if any(c["sale"] for c in cfgs):
        raise ConfigError(f"runs {cfgs[0].get('run_id')} and others: SALE runs are not batched (their encoders "
                          "are not stacked); an RL vmap pack trains them with pack_mode serial (tasks/rl/rules.smk)")
    check_shared([{**c, "family": pack_family(c)} for c in cfgs], (*PACK_SHARED_KEYS, "family"))


class PackedTD3:
    """K :class:`saidl.rl.td3.TD3` agents (each built as alone) whose acting and updates are batched."""

    def __init__(self, agents: list, exact: bool | None = None):
        a0 = agents[0]
        self.agents, self.cfg, self.device, self.K = agents, a0.cfg, a0.device, len(agents)
        self.noisy = [a.cfg.noisy for a in agents]
        if len({n is None for n in self.noisy}) > 1:
            raise ConfigError("a vmap pack cannot mix plain TD3 actors with noisy-net actors")
        self.is_noisy = self.noisy[0] is not None
        # exact: every layer member by member, as alone (the CPU default; see the module docstring)
        self.exact = self.device.type == "cpu" if exact is None else exact
        with torch.no_grad():
            self.P = {net: {name: torch.stack([dict(getattr(a, net).named_parameters())[name].detach()
                                               for a in agents]).requires_grad_(net in ("actor", "critic"))
                            for name, _ in getattr(a0, net).named_parameters()} for net in NETS}
            # noisy nets: the actor's current noise (the target actor runs in eval mode, on mu alone)
            self.eps = {name: torch.stack([dict(a.actor.named_buffers())[name] for a in agents])
                        for name, _ in a0.actor.named_buffers()}
        self.lists = {net: list(p.values()) for net, p in self.P.items()}
        fused = True if self.device.type in ("cpu", "cuda") else None
        self.actor_optimizer = torch.optim.Adam(self.lists["actor"], lr=self.cfg.actor_lr, fused=fused)
        self.critic_optimizer = torch.optim.Adam(self.lists["critic"], lr=self.cfg.critic_lr, fused=fused)
        self.total_updates, self.actor_updates = a0.total_updates, a0.actor_updates

    # ---- the stacked networks -----------------------------------------------------------------
    def _linear(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(K, B, in), or (K, in) for one observation per member, times (K, out, in) weights ->
        (K, B, out) or (K, out): one ``baddbmm``, or member by member where ``exact``."""
        if self.exact:  # each member's product as its alone run computes it (F.linear)
            return torch.stack([F.linear(xk, wk, bk) for xk, wk, bk in zip(x.unbind(0), w.unbind(0), b.unbind(0))])
        if x.dim() == 2:
            return torch.baddbmm(b.unsqueeze(1), x.unsqueeze(1), w.transpose(1, 2)).squeeze(1)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    def _actor(self, net: str, obs: torch.Tensor, noisy: bool) -> torch.Tensor:
        """pi(s) of the stacked ``net`` (actor or actor_target) on (K, B, obs_dim); ``noisy``: the
        noisy-net weights mu + sigma * eps (train mode), else the mean weights mu (eval mode)."""
        P, h = self.P[net], obs
        for i in LAYERS:
            pre = f"net.{i}"
            if not self.is_noisy:
                w, b = P[f"{pre}.weight"], P[f"{pre}.bias"]
            elif noisy:
                w = P[f"{pre}.weight_mu"] + P[f"{pre}.weight_sigma"] * self.eps[f"{pre}.weight_eps"]
                b = P[f"{pre}.bias_mu"] + P[f"{pre}.bias_sigma"] * self.eps[f"{pre}.bias_eps"]
            else:
                w, b = P[f"{pre}.weight_mu"], P[f"{pre}.bias_mu"]
            h = self._linear(h, w, b)
            if i != LAYERS[-1]:
                h = torch.relu(h)
        return self.cfg.max_action * torch.tanh(h)

    def _q(self, P: dict, head: str, sa: torch.Tensor) -> torch.Tensor:
        h = sa
        for i in LAYERS:
            h = self._linear(h, P[f"{head}.{i}.weight"], P[f"{head}.{i}.bias"])
            if i != LAYERS[-1]:
                h = torch.relu(h)
        return h.squeeze(-1)

    def _critic(self, P: dict, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat([obs, act], dim=-1)
        return self._q(P, "q1_net", sa), self._q(P, "q2_net", sa)

    @torch.no_grad()
    def _resample(self) -> None:
        """Fresh noisy-net noise for every member, from its own generator, in the order its alone
        run draws it (layer by layer: weights, then biases)."""
        for k, (agent, law) in enumerate(zip(self.agents, self.noisy)):
            for i in LAYERS:
                for part in ("weight", "bias"):
                    e = self.eps[f"net.{i}.{part}_eps"][k]
                    e.copy_(sample_noise(law, e.shape, agent.generator, device=self.device))

    # ---- acting and learning ------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: list[np.ndarray]) -> np.ndarray:
        """Each member's exploring action for its observation: (K, act_dim) float32."""
        cfg = self.cfg
        s = torch.stack([torch.as_tensor(np.asarray(o, dtype=np.float32)) for o in obs]).to(self.device)
        if self.is_noisy:  # parameter-space exploration: fresh eps, no action noise
            self._resample()
            return self._actor("actor", s, noisy=True).cpu().numpy()
        a = self._actor("actor", s, noisy=False)
        eps = torch.stack([torch.randn(a.shape[1:], generator=ag.generator, device=self.device) for ag in self.agents])
        return (a + cfg.expl_noise * cfg.max_action * eps).clamp(-cfg.max_action, cfg.max_action).cpu().numpy()

    @torch.no_grad()
    def _target(self, rew, next_obs, done, discount) -> torch.Tensor:
        cfg = self.cfg
        a = self._actor("actor_target", next_obs, noisy=False)
        if cfg.target_policy_smoothing:
            eps = torch.stack([torch.randn(a.shape[1:], generator=ag.generator, device=self.device)
                               for ag in self.agents])
            eps = (cfg.policy_noise * cfg.max_action * eps).clamp(-cfg.noise_clip * cfg.max_action,
                                                                  cfg.noise_clip * cfg.max_action)
            a = (a + eps).clamp(-cfg.max_action, cfg.max_action)
        q1_t, q2_t = self._critic(self.P["critic_target"], next_obs, a)
        return rew + discount * (1.0 - done) * torch.min(q1_t, q2_t)

    def update(self, batches: list[dict]) -> np.ndarray:
        """One TD3 update of every member on its own replay batch; returns the (K, B) TD errors
        (the priorities of each member's batch)."""
        cfg = self.cfg
        b = {k: torch.stack([torch.as_tensor(bt[k], dtype=torch.float32) for bt in batches]).to(self.device)
             for k in ("obs", "act", "rew", "next_obs", "done", "discount", "weights")}
        obs, act, next_obs = b["obs"], b["act"], b["next_obs"]
        rew, done, discount, w = (b[k].reshape(self.K, -1) for k in ("rew", "done", "discount", "weights"))

        y = self._target(rew, next_obs, done, discount)
        q1, q2 = self._critic(self.P["critic"], obs, act)
        critic_loss = (w * ((q1 - y) ** 2 + (q2 - y) ** 2)).mean(dim=1)  # (K,): each member's own loss
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.sum().backward()
        self.critic_optimizer.step()
        self.total_updates += 1

        if self.total_updates % cfg.policy_delay == 0:
            if self.is_noisy:
                self._resample()
            critic = {k: v.detach() for k, v in self.P["critic"].items()}  # only d Q_1 / d a is needed
            q = self._q(critic, "q1_net", torch.cat([obs, self._actor("actor", obs, noisy=self.is_noisy)], dim=-1))
            actor_loss = -q.mean(dim=1)
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss.sum().backward()
            self.actor_optimizer.step()
            for target, source in (("actor_target", "actor"), ("critic_target", "critic")):
                polyak_update(self.lists[target], self.lists[source], cfg.tau)
            self.actor_updates += 1
        return torch.max((q1 - y).abs(), (q2 - y).abs()).detach().cpu().numpy()

    @torch.no_grad()
    def sync(self) -> None:
        """Copy the stacked networks, noise and update counts into each member's own agent (for
        its evaluation, attack study and checkpoint of its best policy)."""
        for k, agent in enumerate(self.agents):
            for net in NETS:
                for name, p in getattr(agent, net).named_parameters():
                    p.copy_(self.P[net][name][k])
            for name, e in agent.actor.named_buffers():
                e.copy_(self.eps[name][k])
            agent.total_updates, agent.actor_updates = self.total_updates, self.actor_updates

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"P": {net: {k: v.detach() for k, v in p.items()} for net, p in self.P.items()}, "eps": self.eps,
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict(),
                "generators": [a.generator.get_state() for a in self.agents],
                "total_updates": self.total_updates, "actor_updates": self.actor_updates}

    def load_state_dict(self, st: dict) -> None:
        with torch.no_grad():
            for net, p in st["P"].items():
                for k, v in p.items():
                    self.P[net][k].copy_(v)
            for k, v in st["eps"].items():
                self.eps[k].copy_(v)
        self.actor_optimizer.load_state_dict(st["actor_optimizer"])
        self.critic_optimizer.load_state_dict(st["critic_optimizer"])
        for a, g in zip(self.agents, st["generators"]):
            a.generator.set_state(g.cpu())
        self.total_updates, self.actor_updates = st["total_updates"], st["actor_updates"]


def train_packed(cfgs: list[dict], device: torch.device, ckpt: Path | None = None, ckpt_interval_s: float = 300.0,
                 stop_after: int | None = None):
    """Train the members together (``saidl.rl.train.train`` for K runs); returns their RunLoops and
    histories, or None if ``stop_after`` stopped it (with a checkpoint)."""
    from tqdm import tqdm

    from saidl.rl.train import RunLoop

    check_members(cfgs)
    key = {"pack": cfgs}
    state = load_checkpoint(ckpt, key, map_location=device)
    runs = [RunLoop(c, device, None if state is None else st) for c, st in
            zip(cfgs, [None] * len(cfgs) if state is None else state["members"])]
    agent = PackedTD3([r.agent for r in runs])
    if state is not None:
        agent.load_state_dict(state["agent"])
    first, total = runs[0].first, cfgs[0]["total_steps"]
    t0, last_ckpt = time.perf_counter(), time.monotonic()
    for t in tqdm(range(first, total), desc=f"pack of {len(runs)}", initial=first, total=total, file=sys.stderr,
                  mininterval=5.0):
        actions = [r.action(t) for r in runs]
        if any(a is None for a in actions):  # after start_steps: every member's policy acts
            actions = list(agent.act([r.obs for r in runs]))
        for r, a in zip(runs, actions):
            r.step(t, a)
        batches = [r.sample(t, "cpu") for r in runs]
        if batches[0] is not None:
            td = agent.update(batches)
            for r, batch, errors in zip(runs, batches, td):
                r.learned(batch, errors)
        if (t + 1) % cfgs[0]["eval_every"] == 0:
            agent.sync()
            for r in runs:
                r.evaluate(t)
        stopping = stop_after is not None and t + 1 >= stop_after
        if ckpt is not None and (stopping or time.monotonic() - last_ckpt >= ckpt_interval_s):
            save_checkpoint(ckpt, {"members": [r.state(t + 1) for r in runs], "agent": agent.state_dict(),
                                   "config": key})
            last_ckpt = time.monotonic()
        if stopping:
            return None
    agent.sync()
    train_time = time.perf_counter() - t0
    return runs, [r.finish(train_time / len(runs)) for r in runs]


def run_packed(cfgs: list[dict], outs: list[Path], ckpt: Path | None = None, ckpt_interval_s: float = 300.0,
               stop_after: int | None = None) -> list[dict] | None:
    """Train the members together and write each one's run JSON (None if stopped early)."""
    from saidl.rl.train import run_result

    t0 = time.perf_counter()
    device = choose_device(cfgs[0].get("device", "auto"))
    trained = train_packed(cfgs, device, ckpt, ckpt_interval_s, stop_after)
    if trained is None:
        return None
    docs = []
    for run, hist, out in zip(*trained, outs):
        doc = run_result(run.cfg, run.agent, hist, t0, device)
        doc["timing"]["packed"] = {"mode": "vmap", "members": len(cfgs)}
        docs.append(finish_run(Path(out), doc, None))
    if ckpt is not None:
        Path(ckpt).unlink(missing_ok=True)
    return docs
