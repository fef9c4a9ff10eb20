"""K SSM runs (the seeds of one PyTorch S4/S4D model) trained together (``pack_mode: vmap``).

The design of ``saidl.coreml.packed``: the members' parameters are stacked (one (K, ...) tensor per
parameter) and one AdamW steps them all. AdamW acts element by element and the members step
together, so one AdamW over the stacked tensors, with the alone run's param groups (ordinary
parameters at ``lr`` with weight decay, the SSM's log_dt, A, P, B at ``ssm_lr`` without) and the
same per-step cosine schedule, is K independent AdamWs (the SSM runs clip no gradients).

What a member keeps of its own: its seed (initial weights, batch order, dropout masks), loss,
optimiser state, evaluation (the alone code, ``saidl.ssm.train.evaluate``, on its own model, into
which :meth:`PackedSSM.sync` copies the stacked weights), history and run JSON
(``saidl.ssm.train.run_result``). Members must agree on everything that fixes the shapes and the
schedule (``saidl.ssm.grid.PACK_SHARED_KEYS``); the NumPy model is not batched (its packs train
serially, ``saidl.ssm.grid.pack_mode``). A member that diverges (NaN) only poisons itself: each
member's parameters get the gradient of its own loss alone.

How a step is batched (:func:`batched_path`, recorded as ``timing.packed.batched``):

* ``loop`` (a CPU): the K members' steps one after another, each member's forward and backward a
  ``functional_call`` on views of its slices of the stacked parameters (its alone model's tensors:
  same values, same strides), with dropout drawing from the member's own generator state (saved
  and restored around its forward: the run alone draws its masks from torch's global generator,
  seeded with its seed before its model is built); its gradients are copied into its slices of the
  stacked gradients, then one AdamW step for all. One member's graph at a time. Every operation is
  the alone run's on the same numbers, so a member's run JSON equals its run alone bit for bit,
  timings aside (``tests/test_ssm_packing.py``).
* ``vmap`` (CUDA, every model but S4 with ZOH): ``torch.func.vmap(functional_call, randomness="different")`` over the stacked
  parameters: one kernel launch per operation for the K members. The complex views of the
  parameters (``view_as_complex``), the kernels' complex arithmetic and the FFT convolution batch
  under vmap. Its sums run in another order than the alone runs' and each member's dropout masks
  come from one shared generator, so a member's numbers agree with its alone run to rounding at
  first (without dropout) and then drift; ``pack_mode: serial`` is the exact alternative. (On a
  CPU, forced with ``batched="vmap"``, two smoke-scale steps of two seeds without dropout: the
  parameters within 7e-7 of the loop's, for S4 bilinear and S4D ZOH and bilinear.) S4 with ZOH
  does not batch under vmap (:func:`vmappable`): its packs take the ``loop`` path on CUDA too.

Checkpoints: one file per pack (the stacked tensors, AdamW's state, the schedule, each member's
batch-order and dropout generators and history), the same on both paths; a pack resumes as if it
had not been stopped, as the alone run does since its checkpoint keeps dropout's generator.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from saidl.common.checkpoint import finish_run, load_checkpoint
from saidl.common.errors import ConfigError
from saidl.common.stacked import check_shared, fit_epochs, loop_step, restore_stacked
from saidl.common.runtime import choose_device, keep_freed_memory, seed_everything, skip_dynamo_import
from saidl.ssm.data import Sequences, load_sequences
from saidl.ssm.grid import PACK_SHARED_KEYS
from saidl.ssm.train import (build_model, evaluate, optimiser, rng_state, run_result, set_rng_state,
                             split_tensors, torch_outcome)

BATCHED_PATHS = ("loop", "vmap")


def check_members(cfgs: list[dict]) -> None:
    """A ConfigError naming the first shared key on which two members of a pack differ, or the
    NumPy model (not batched)."""
    if any(c.get("backend") != "torch" for c in cfgs):
        raise ConfigError(f"runs {cfgs[0].get('run_id')} and others: the NumPy model is not batched; its packs "
                          "train with pack_mode: serial")
    check_shared(cfgs, PACK_SHARED_KEYS)


def vmappable(cfg: dict) -> bool:
    """Whether the model's forward runs under ``torch.func.vmap``: all but S4 with ZOH, whose
    kernel's matrix exponential (``kernels.expm``) squares as many times as the largest norm asks,
    a loop whose length reads a tensor's value (``.item()``), which vmap cannot batch."""
    return not (cfg["kind"] == "s4" and cfg["disc"] == "zoh")


def batched_path(cfg: dict, device: torch.device) -> str:
    """``loop`` on a CPU (exact) and for a model :func:`vmappable` refuses, ``vmap`` otherwise (CUDA)."""
    return "loop" if device.type == "cpu" or not vmappable(cfg) else "vmap"


class PackedSSM:
    """K SSM members, each built exactly as alone, whose training steps run together.

    ``batched``: ``loop`` or ``vmap`` (:data:`BATCHED_PATHS`); None: :func:`batched_path`."""

    def __init__(self, cfgs: list[dict], data: Sequences, device: torch.device, batched: str | None = None):
        from torch.func import functional_call, vmap

        check_members(cfgs)
        self.cfgs, self.cfg, self.device = cfgs, cfgs[0], device
        self.batched = batched_path(self.cfg, device) if batched is None else batched
        if self.batched not in BATCHED_PATHS:
            raise ConfigError(f"batched must be one of {', '.join(BATCHED_PATHS)}, not {self.batched!r}")
        if self.batched == "vmap" and not vmappable(self.cfg):
            raise ConfigError(f"batched 'vmap' cannot batch {self.cfg['model']} (S4 with ZOH); use loop")
        self.models, self.rngs = [], []
        for c in cfgs:  # as train_torch: seed, then build (the weights), then dropout's stream follows
            seed_everything(c["seed"])
            self.models.append(build_model(c).to(device))
            self.rngs.append(rng_state(device))
        self.gens = [torch.Generator().manual_seed(c["seed"]) for c in cfgs]
        self.t = split_tensors(data, device)
        named = [dict(m.named_parameters()) for m in self.models]
        self.params = {n: torch.stack([p[n].detach() for p in named]).requires_grad_(True) for n in named[0]}
        self.buffers = {n: torch.stack([dict(m.named_buffers())[n] for m in self.models])
                        for n, _ in self.models[0].named_buffers()}
        # the alone run's param groups, each parameter replaced by its stacked tensor
        name_of = {id(p): n for n, p in named[0].items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [self.params[name_of[id(p)]]
                                                                              for p in g["params"]]}
                  for g in self.models[0].param_groups(self.cfg["lr"], self.cfg["weight_decay"])]
        self.opt, self.sched = optimiser(self.models[0], self.cfg, len(self.t["y_tr"]), groups)
        self.base = copy.deepcopy(self.models[0]).to("meta")
        self.functional_call = functional_call

        def forward(p, b, x):
            return functional_call(self.base, (p, b), (x,))

        self.vforward = vmap(forward, randomness="different")
        self._leaves: list[dict[str, torch.Tensor]] | None = None
        self.histories = [{k: [] for k in ("train_loss", "val_acc", "test_acc", "epoch_time_s")} for _ in cfgs]
        self.epoch = 0

    def _loop_step(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each member's step as its alone run's (``saidl.common.stacked.loop_step``), its dropout
        drawing from its own generator state."""
        def member_loss(k, leaves, buffers):
            set_rng_state(self.rngs[k], self.device)
            loss = F.cross_entropy(self.functional_call(self.base, (leaves, buffers), (xs[k],)), ys[k])
            self.rngs[k] = rng_state(self.device)
            return loss

        return loop_step(self, len(self.models), member_loss)

    def _vmap_step(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> list[torch.Tensor]:
        logits = self.vforward(self.params, self.buffers, torch.stack(xs))       # (K, B, classes)
        losses = [F.cross_entropy(logits[k], y) for k, y in enumerate(ys)]
        self.opt.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        return [loss.detach() for loss in losses]

    def train_epoch(self) -> list[float]:
        self.base.train()
        x_tr, y_tr = self.t["x_tr"], self.t["y_tr"]
        n, bs = len(y_tr), self.cfg["batch_size"]
        perms = [torch.randperm(n, generator=g).to(self.device) for g in self.gens]
        step = self._loop_step if self.batched == "loop" else self._vmap_step
        record: list[tuple[list[torch.Tensor], int]] = []
        for i in range(0, n, bs):
            idx = [p[i:i + bs] for p in perms]
            losses = step([x_tr[ix] for ix in idx], [y_tr[ix] for ix in idx])
            self.opt.step()
            self.sched.step()
            record.append((losses, len(idx[0])))
        totals = []
        for k in range(len(self.models)):  # as the run alone sums its losses: floats, step by step
            total = 0.0
            for losses, size in record:
                total += float(losses[k]) * size
            totals.append(total / n)
        return totals

    @torch.no_grad()
    def sync(self) -> None:
        """Copy the stacked weights into each member's own model (for its evaluation and kernels)."""
        for k, m in enumerate(self.models):
            for name, p in m.named_parameters():
                p.copy_(self.params[name][k])
            for name, b in m.named_buffers():
                b.copy_(self.buffers[name][k])

    # -- checkpoints (one file for the pack) ---------------------------------------------------------
    def state(self) -> dict:
        return {"params": {k: v.detach() for k, v in self.params.items()}, "buffers": self.buffers,
                "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "gens": [g.get_state() for g in self.gens], "rngs": self.rngs,
                "histories": self.histories, "epoch": self.epoch}

    def load_state(self, st: dict) -> None:
        restore_stacked(self, st)
        for g, s in zip(self.gens, st["gens"]):
            g.set_state(s.cpu())
        self.rngs = [{k: v.cpu() for k, v in r.items()} for r in st["rngs"]]
        self.histories, self.epoch = st["histories"], st["epoch"]

    def fit(self, ckpt: Path | None = None, ckpt_interval_s: float = 120.0, stop_after: int | None = None):
        key = {"pack": self.cfgs}
        if ckpt is not None and (state := load_checkpoint(ckpt, key, map_location=self.device)) is not None:
            self.load_state(state)
        def one_epoch(epoch: int) -> str:
            t0 = time.perf_counter()
            losses = self.train_epoch()
            self.sync()
            for m, h, loss in zip(self.models, self.histories, losses):
                h["train_loss"].append(loss)
                for k, v in evaluate(m, self.t, self.cfg).items():
                    h[k].append(v)
            dt = time.perf_counter() - t0
            for h in self.histories:
                h["epoch_time_s"].append(dt / len(self.models))
            return " ".join(f"{h['test_acc'][-1]:.3f}" for h in self.histories)

        fit_epochs(self, self.cfg["epochs"], ckpt, key, ckpt_interval_s, stop_after, one_epoch)


def run_packed(cfgs: list[dict], outs: list[Path], ckpt: Path | None = None, ckpt_interval_s: float = 120.0,
               stop_after: int | None = None, batched: str | None = None) -> list[dict] | None:
    """Train the members together and write each one's run JSON atomically (None if stopped early,
    after ``stop_after`` epochs); ``batched``: as :class:`PackedSSM`."""
    t0 = time.perf_counter()
    check_members(cfgs)
    keep_freed_memory()
    skip_dynamo_import()
    device = choose_device(cfgs[0].get("device", "auto"))
    data = load_sequences(cfgs[0])  # the members share the data keys (check_members)
    trainer = PackedSSM(cfgs, data, device, batched)
    trainer.fit(ckpt, ckpt_interval_s, stop_after)
    if trainer.epoch < cfgs[0]["epochs"]:
        return None
    docs = []
    for cfg, m, h, out in zip(cfgs, trainer.models, trainer.histories, outs):
        doc = run_result(cfg, torch_outcome(m, h, data), data, device, time.perf_counter() - t0)
        doc["timing"]["packed"] = {"mode": "vmap", "members": len(cfgs), "batched": trainer.batched}
        docs.append(finish_run(Path(out), doc, None))
    if ckpt is not None:
        Path(ckpt).unlink(missing_ok=True)
    return docs
