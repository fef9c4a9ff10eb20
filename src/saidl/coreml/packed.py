"""K Core ML runs trained as one batched model (``pack_mode: vmap``): ``torch.func`` stacks the
members' parameters (one (K, ...) tensor per parameter, one SGD over them), and each step trains
all K members on one batch each, batched as :func:`batched_path` rules (below).

What a member keeps of its own: its seed (initial weights, batch order, noisy labels), loss,
gradient clipping (its own global norm), optimiser state (SGD acts element by element, so one SGD
over the stacked tensors is K independent SGDs), BatchNorm running statistics, evaluation and run
JSON. Members must agree on everything that fixes the shapes and the schedule
(:data:`PACK_SHARED_KEYS`). A member that diverges (NaN) only poisons itself: each member's
parameters get the gradient of its own loss alone (of the summed loss on the batched paths).

How a step is batched (:func:`batched_path`, recorded in each run JSON as
``timing.packed.batched``), a rule by model and device type:

* ``bmm``: a plain MLP (the demo's model), on any device: (K, in, out) weights, one ``baddbmm`` per
  layer. CPU, 8 demo MLPs (``benchmarks/bench_pack.py``, 1 thread): 1.01x to 1.07x the serial runs
  (``loop`` there: 0.91x to 0.99x).
* ``loop``: any other model (the full scale's ``cnn8``) on a CPU: the K members' steps one after
  another, each member's forward and backward a ``functional_call`` on views of its slices of the
  stacked parameters (which keep the alone model's memory layout, channels_last for the CNN) and
  of its BatchNorm buffers, its gradients copied into the stacked ones; then one clipping (each
  member's own norm) and one SGD step for all. One member's graph at a time: a run's memory, not
  K runs'. ``vmap`` there turns each convolution into a grouped convolution, which the CPU runs far
  slower: 8 CNNs, 2 steps, 1 thread: 0.42x the serial runs' throughput before this rule (0.57x
  with ``--batched vmap`` now), the loop 0.99x.
* ``vmap``: any other model on any other device (CUDA): ``vmap(functional_call)``, grouped
  convolutions: the GPU throughput packing is for.

Equality with the runs trained alone: the evaluation is the alone trainer's code on the member's
weights. On the ``loop`` path every operation of a member's step is the alone run's on the same
numbers (its forward and backward on the same tensors, its clipping norm per tensor, and SGD element
by element), so a member's run JSON equals its run alone bit for bit, timings aside (tested). The
``bmm`` and ``vmap`` paths multiply batched (``bmm`` for ``mm``, grouped convolutions), whose
float32 sums are ordered differently, so a member's numbers agree with its alone run to rounding at
first and then drift as SGD amplifies the differences (``tests/test_packing.py`` states the
tolerances). ``pack_mode: serial`` (``saidl.common.pack``) is the exact alternative on any device.

Checkpoints (one per pack) hold the stacked tensors, the same on the ``loop`` and ``vmap`` paths (a
CNN pack resumes across them); the MLP's ``bmm`` weights are stacked transposed, and the
checkpoint records which, so a checkpoint of another layout trains the pack afresh (with a note).
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import torch
from torch import nn

from saidl.common.checkpoint import finish_run, load_checkpoint
from saidl.common.errors import ConfigError
from saidl.common.stacked import check_shared, fit_epochs, loop_step, restore_stacked
from saidl.common.runtime import choose_device, keep_freed_memory
from saidl.coreml.names import PACK_SHARED_KEYS
from saidl.coreml.train import Trainer, prepare, random_crop_flip, run_result

def check_members(cfgs: list[dict]) -> None:
    """A ConfigError naming the first shared key on which two members of a pack differ."""
    check_shared(cfgs, PACK_SHARED_KEYS)
    if cfgs[0].get("precision", "fp32") != "fp32":
        raise ConfigError(f"runs {cfgs[0].get('run_id')} and others: a vmap pack trains in fp32 only, and these ask "
                          f"for precision {cfgs[0]['precision']}; set pack_mode: serial (or precision: fp32) in the "
                          "scale block of tasks/coreml/config.yaml")


class _MemberParams:
    """What ANL's L1 penalty reads from a model: ``parameters()``, here member k's slices (in the
    model's parameter order)."""

    def __init__(self, tensors: list[torch.Tensor]):
        self.tensors = tensors

    def parameters(self):
        return iter(self.tensors)


def grouped_layers(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The layers of a plain ``Sequential`` MLP (Flatten, Linear, ReLU only: the demo's model) as
    (parameter prefix, layer), or None for any other model (vmap then batches it)."""
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or not any(isinstance(m, nn.Linear) for m in net):
        return None
    if not all(isinstance(m, (nn.Flatten, nn.Linear, nn.ReLU)) for m in net):
        return None
    return [(f"net.{i}", m) for i, m in enumerate(net)]


BATCHED_PATHS = ("bmm", "loop", "vmap")


def batched_path(model: nn.Module, device: torch.device) -> str:
    """How a pack's step is batched, by model and device type (the module docstring says why):
    ``bmm`` for a plain MLP on any device, ``loop`` for any other model on a CPU, ``vmap`` for any
    other model on any other device (CUDA)."""
    if grouped_layers(model) is not None:
        return "bmm"
    return "loop" if device.type == "cpu" else "vmap"


def _stacked(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The K tensors of one parameter or buffer stacked as (K, ...), each slice [k] with the
    strides of the member's own tensor (channels_last conv weights stay channels_last), so that a
    member's slice is laid out as its alone model's tensor."""
    t = tensors[0]
    if not (t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last))):
        return torch.stack(tensors)
    out = torch.empty_strided((len(tensors), *t.shape), (t.numel(), *t.stride()), dtype=t.dtype, device=t.device)
    for k, x in enumerate(tensors):
        out[k].copy_(x)
    return out


class PackedTrainer:
    """K :class:`Trainer` members (each built exactly as alone) whose training steps are batched.

    ``batched`` (:data:`BATCHED_PATHS`) is how a step is batched; None: :func:`batched_path`'s
    rule for the model and device. ``bmm``: a plain MLP batched by hand, each Linear weight stacked
    transposed, (K, in, out), and a layer one ``baddbmm`` (vmap's linear multiplies by a transposed
    view of (K, out, in) weights and gets its weight gradient back in the wrong layout, which costs a
    strided copy of every weight gradient per step: on a CPU, 8 demo MLPs ran at 0.8x the serial
    runs). ``loop``: each member's forward and backward in turn, on views of its slices of the
    stacked parameters.
    ``vmap``: ``vmap(functional_call)`` over the stacked parameters.
    """

    def __init__(self, cfgs: list[dict], preps: list, device: torch.device, batched: str | None = None):
        from torch.func import functional_call, vmap

        check_members(cfgs)
        self.cfg, self.device = cfgs[0], device
        self.members = [Trainer(c, p, device) for c, p in zip(cfgs, preps)]
        models = [m.model for m in self.members]
        self.batched = batched_path(models[0], device) if batched is None else batched
        if self.batched not in BATCHED_PATHS:
            raise ConfigError(f"batched must be one of {', '.join(BATCHED_PATHS)}, not {self.batched!r}")
        self.layers = grouped_layers(models[0])
        if self.batched == "bmm" and self.layers is None:
            raise ConfigError(f"batched 'bmm' needs a plain MLP, not {self.cfg['model']}; use loop or vmap")
        names = [n for n, _ in models[0].named_parameters()]
        params = {n: _stacked([dict(m.named_parameters())[n].detach() for m in models]) for n in names}
        self.buffers = {n: _stacked([dict(m.named_buffers())[n] for m in models])
                        for n, _ in models[0].named_buffers()}
        # names of the weights stored transposed, (K, in, out): sync() and checkpoints know them
        self.transposed = ({f"{pre}.weight" for pre, m in self.layers if isinstance(m, nn.Linear)}
                           if self.batched == "bmm" else set())
        self.params = {k: (v.transpose(1, 2).contiguous() if k in self.transposed else v).requires_grad_(True)
                       for k, v in params.items()}
        base = copy.deepcopy(models[0]).to("meta")

        def forward(p, b, x):
            return functional_call(base, (p, b), (x,))

        self.base, self.functional_call = base, functional_call
        self.forward = {"bmm": self._grouped_forward, "vmap": vmap(forward), "loop": None}[self.batched]
        self._leaves: list[dict[str, torch.Tensor]] | None = None  # loop: each member's views, made once
        c = self.cfg
        self.opt = torch.optim.SGD(list(self.params.values()), lr=c["lr"], momentum=c["momentum"],
                                   weight_decay=c["weight_decay"], nesterov=c.get("nesterov", False))
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=c["epochs"],
                                                                eta_min=c.get("lr_min", 0.0))
        self.epoch = 0

    def _grouped_forward(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        """The MLP on (K, B, ...) inputs with (K, in, out) weights: (K, B, classes)."""
        h = x
        for pre, m in self.layers:
            if isinstance(m, nn.Flatten):
                h = h.flatten(2)
            elif isinstance(m, nn.Linear):
                h = torch.baddbmm(params[f"{pre}.bias"].unsqueeze(1), h, params[f"{pre}.weight"])
            else:
                h = torch.relu(h)
        return h

    def _clip(self) -> None:
        """Each member's gradients scaled to its own global norm, as clip_grad_norm_ does alone.
        ``bmm``/``vmap``: one norm per parameter for all members at once, the (K,) norms of its K
        slices. ``loop``: each member's norm as clip_grad_norm_ computes it alone, on its slices
        (their strides are the alone gradients', so the sums run in the same order: bit for bit)."""
        max_norm = self.cfg.get("grad_clip")
        if not max_norm:
            return
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        if self.batched == "loop":
            total = torch.stack([torch.nn.utils.get_total_norm([g[k] for g in grads], 2.0)
                                 for k in range(len(self.members))])                            # (K,)
        else:
            norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), 2.0, dim=1) for g in grads])  # (P, K)
            total = torch.linalg.vector_norm(norms, 2.0, dim=0)                                     # (K,)
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

    def _loop_step(self, xs: list[torch.Tensor], idx: list[torch.Tensor]) -> list[torch.Tensor]:
        """``loop``: each member's step as its alone run's (``saidl.common.stacked.loop_step``)."""
        def member_loss(k, leaves, buffers):
            m = self.members[k]
            logits = self.functional_call(self.base, (leaves, buffers), (xs[k],)).float()
            y = m.prep.train.y[idx[k]]
            return (m.criterion(logits, y, _MemberParams(list(leaves.values()))) if m.loss_needs_model
                    else m.criterion(logits, y))

        return loop_step(self, len(self.members), member_loss)

    def train_epoch(self) -> list[float]:
        self.base.train()
        members = self.members
        n, bs = len(members[0].prep.train.y), self.cfg["batch_size"]
        perms = [torch.randperm(n, generator=m.gen).to(self.device) for m in members]
        totals = [torch.zeros((), device=self.device) for _ in members]
        augment, seen = bool(self.cfg.get("augment")), 0
        for i in range(0, n, bs):
            idx = [p[i:i + bs] for p in perms]
            if augment:
                xs = [m._inputs(random_crop_flip(m.prep.train.x[ix], 4, m.gen)) for m, ix in zip(members, idx)]
            else:
                xs = [m._batch("train", ix) for m, ix in zip(members, idx)]
            if self.batched == "loop":
                losses = self._loop_step(xs, idx)
            else:
                logits = self.forward(self.params, self.buffers, torch.stack(xs)).float()
                losses = [m.criterion(logits[k], m.prep.train.y[idx[k]],
                                      _MemberParams([p[k] for p in self.params.values()]))
                          if m.loss_needs_model else m.criterion(logits[k], m.prep.train.y[idx[k]])
                          for k, m in enumerate(members)]
                self.opt.zero_grad(set_to_none=True)
                torch.stack(losses).sum().backward()
            self._clip()
            self.opt.step()
            for k, loss in enumerate(losses):
                totals[k] += loss.detach() * len(idx[k])
            seen += len(idx[0])
        self.sched.step()
        return [float(t / seen) for t in totals]

    @torch.no_grad()
    def sync(self) -> None:
        """Copy the stacked weights into each member's own model (for its evaluation)."""
        for k, m in enumerate(self.members):
            for name, p in m.model.named_parameters():
                p.copy_(self.params[name][k].T if name in self.transposed else self.params[name][k])
            for name, b in m.model.named_buffers():
                b.copy_(self.buffers[name][k])

    # -- checkpoints (one file for the pack) ---------------------------------------------------------
    def state(self) -> dict:
        return {"params": {k: v.detach() for k, v in self.params.items()}, "buffers": self.buffers,
                "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "gens": [m.gen.get_state() for m in self.members], "histories": [m.history for m in self.members],
                "torch_rng": torch.get_rng_state(), "epoch": self.epoch,
                "transposed": sorted(self.transposed)}  # the weights stored (K, in, out)

    def load_state(self, st: dict) -> None:
        restore_stacked(self, st)
        for m, g, h in zip(self.members, st["gens"], st["histories"]):
            m.gen.set_state(g.cpu())
            m.history = h
        torch.set_rng_state(st["torch_rng"].cpu())
        self.epoch = st["epoch"]

    def fit(self, ckpt: Path | None = None, ckpt_interval_s: float = 120.0, stop_after: int | None = None):
        key = {"pack": [m.cfg for m in self.members]}
        if ckpt is not None and (state := load_checkpoint(ckpt, key, map_location=self.device)) is not None:
            if state.get("transposed", []) == sorted(self.transposed):
                self.load_state(state)
            else:  # written by a version that stacked the weights in another layout
                print(f"note: {ckpt} stacks the weights in another layout; training the pack afresh",
                      file=sys.stderr)
        def one_epoch(epoch: int) -> str:
            t0 = time.perf_counter()
            losses = self.train_epoch()
            self.sync()
            for m, loss in zip(self.members, losses):
                m.history["train_loss"].append(loss)
                for k, v in m.evaluate().items():
                    m.history[k].append(v)
            dt = time.perf_counter() - t0
            for m in self.members:
                m.history["epoch_time_s"].append(dt / len(self.members))
                m.epoch = epoch + 1
            return " ".join(f"{m.history['test_acc'][-1]:.3f}" for m in self.members)

        fit_epochs(self, self.cfg["epochs"], ckpt, key, ckpt_interval_s, stop_after, one_epoch)


def run_packed(cfgs: list[dict], outs: list[Path], ckpt: Path | None = None, ckpt_interval_s: float = 120.0,
               stop_after: int | None = None, batched: str | None = None) -> list[dict] | None:
    """Train the members together and write each one's run JSON atomically (None if stopped early);
    ``batched``: as :class:`PackedTrainer` (None: the rule of :func:`batched_path`)."""
    t0 = time.perf_counter()
    keep_freed_memory()
    device = choose_device(cfgs[0].get("device", "auto"))
    preps = [prepare(c, device) for c in cfgs]
    trainer = PackedTrainer(cfgs, preps, device, batched)
    trainer.fit(ckpt, ckpt_interval_s, stop_after)
    if trainer.epoch < cfgs[0]["epochs"]:
        return None
    docs = []
    for m, prep, out in zip(trainer.members, preps, outs):
        doc = run_result(m.cfg, prep, m.history, time.perf_counter() - t0, device)
        doc["timing"]["packed"] = {"mode": "vmap", "members": len(cfgs), "batched": trainer.batched}
        docs.append(finish_run(Path(out), doc, None))
    if ckpt is not None:
        Path(ckpt).unlink(missing_ok=True)
    return docs
