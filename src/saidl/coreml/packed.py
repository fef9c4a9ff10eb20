"""K Core ML runs trained as one batched model (``pack_mode: vmap``): ``torch.func`` stacks the
members' parameters, and each step runs one ``vmap``-ed forward and backward for all of them.

What a member keeps of its own: its seed (initial weights, batch order, noisy labels), loss,
gradient clipping (its own global norm), optimiser state (SGD acts element by element, so one SGD
over the stacked tensors is K independent SGDs), evaluation and run JSON. Members must agree on
everything that fixes the shapes and the schedule (:data:`PACK_SHARED_KEYS`). A member that diverges
(NaN) only poisons itself: the summed loss gives each member's parameters the gradient of its own
loss alone.

Equality with the runs trained alone: the evaluation is the alone trainer's code on the member's
weights, but the training matmuls run batched (``bmm`` for ``mm``, grouped convolutions), whose
float32 sums are ordered differently, so a member's numbers agree with its alone run to rounding at
first and then drift as SGD amplifies the differences (``tests/test_packing.py`` states the
tolerances). ``pack_mode: serial`` (``saidl.common.pack``) is the exact alternative.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import torch
from torch import nn

from saidl.common.checkpoint import finish_run, load_checkpoint, save_checkpoint
from saidl.common.errors import ConfigError
from saidl.common.runtime import choose_device, keep_freed_memory
from saidl.coreml.names import PACK_SHARED_KEYS
from saidl.coreml.train import Trainer, prepare, random_crop_flip, run_result

def check_members(cfgs: list[dict]) -> None:
    """A ConfigError naming the first shared key on which two members of a pack differ."""
    for key in PACK_SHARED_KEYS:
        values = {repr(c.get(key)) for c in cfgs}
        if len(values) > 1:
            raise ConfigError(f"runs {cfgs[0].get('run_id')} and others of one vmap pack differ in '{key}' "
                              f"({', '.join(sorted(values))}); a pack's members share {', '.join(PACK_SHARED_KEYS)}. "
                              "Change the pack key or use pack_mode: serial")


class _MemberParams:
    """What ANL's L1 penalty reads from a model: ``parameters()``, here member k's slices."""

    def __init__(self, params: dict[str, torch.Tensor], k: int):
        self.params, self.k = params, k

    def parameters(self):
        return (p[self.k] for p in self.params.values())


def grouped_layers(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The layers of a plain ``Sequential`` MLP (Flatten, Linear, ReLU only: the demo's model) as
    (parameter prefix, layer), or None for any other model (vmap then batches it)."""
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or not any(isinstance(m, nn.Linear) for m in net):
        return None
    if not all(isinstance(m, (nn.Flatten, nn.Linear, nn.ReLU)) for m in net):
        return None
    return [(f"net.{i}", m) for i, m in enumerate(net)]


class PackedTrainer:
    """K :class:`Trainer` members (each built exactly as alone) whose training steps are batched.

    A plain MLP is batched by hand: each Linear weight is stacked transposed, (K, in, out), and a
    layer is one ``baddbmm``. vmap's linear multiplies by a transposed view of (K, out, in) weights
    and gets its weight gradient back in the wrong layout, which costs a strided copy of every
    weight gradient per step; on a CPU that made a pack of 8 demo MLPs 0.8x the serial runs. Other
    models (the CNN) go through ``vmap(functional_call)``.
    """

    def __init__(self, cfgs: list[dict], preps: list, device: torch.device):
        from torch.func import functional_call, stack_module_state, vmap

        check_members(cfgs)
        self.cfg, self.device = cfgs[0], device
        self.members = [Trainer(c, p, device) for c, p in zip(cfgs, preps)]
        models = [m.model for m in self.members]
        params, buffers = stack_module_state(models)
        self.layers = grouped_layers(models[0])
        # names of the weights stored transposed, (K, in, out): sync() and checkpoints know them
        self.transposed = {f"{pre}.weight" for pre, m in self.layers or [] if isinstance(m, nn.Linear)}
        self.params = {k: (v.transpose(1, 2) if k in self.transposed else v).contiguous().detach().requires_grad_(True)
                       for k, v in params.items()}
        self.buffers = buffers
        base = copy.deepcopy(models[0]).to("meta")

        def forward(p, b, x):
            return functional_call(base, (p, b), (x,))

        self.base = base
        self.forward = self._grouped_forward if self.layers is not None else vmap(forward)
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
        """Each member's gradients scaled to its own global norm, as clip_grad_norm_ does alone
        (one norm per parameter for all members at once: the (K,) norms of its K slices)."""
        max_norm = self.cfg.get("grad_clip")
        if not max_norm:
            return
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), 2.0, dim=1) for g in grads])  # (P, K)
        total = torch.linalg.vector_norm(norms, 2.0, dim=0)                                     # (K,)
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

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
                xb = torch.stack([m._inputs(random_crop_flip(m.prep.train.x[ix], 4, m.gen))
                                  for m, ix in zip(members, idx)])
            else:
                xb = torch.stack([m._batch("train", ix) for m, ix in zip(members, idx)])
            logits = self.forward(self.params, self.buffers, xb).float()
            losses = [m.criterion(logits[k], m.prep.train.y[idx[k]], _MemberParams(self.params, k))
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
        with torch.no_grad():
            for k, v in st["params"].items():
                self.params[k].copy_(v)
            for k, v in st["buffers"].items():
                self.buffers[k].copy_(v)
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        for m, g, h in zip(self.members, st["gens"], st["histories"]):
            m.gen.set_state(g.cpu())
            m.history = h
        torch.set_rng_state(st["torch_rng"].cpu())
        self.epoch = st["epoch"]

    def fit(self, ckpt: Path | None = None, ckpt_interval_s: float = 120.0, stop_after: int | None = None):
        from tqdm import tqdm

        key = {"pack": [m.cfg for m in self.members]}
        if ckpt is not None and (state := load_checkpoint(ckpt, key, map_location=self.device)) is not None:
            if state.get("transposed", []) == sorted(self.transposed):
                self.load_state(state)
            else:  # written by a version that stacked the weights in another layout
                print(f"note: {ckpt} stacks the weights in another layout; training the pack afresh",
                      file=sys.stderr)
        last = time.monotonic()
        epochs = self.cfg["epochs"]
        bar = tqdm(range(self.epoch, epochs), desc=f"pack of {len(self.members)}", initial=self.epoch,
                   total=epochs, file=sys.stderr, mininterval=2.0)
        for epoch in bar:
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
            self.epoch = epoch + 1
            bar.set_postfix(test=" ".join(f"{m.history['test_acc'][-1]:.3f}" for m in self.members))
            if ckpt is not None and (time.monotonic() - last >= ckpt_interval_s
                                     or (stop_after is not None and self.epoch >= stop_after)):
                save_checkpoint(ckpt, {**self.state(), "config": key})
                last = time.monotonic()
            if stop_after is not None and self.epoch >= stop_after:
                break


def run_packed(cfgs: list[dict], outs: list[Path], ckpt: Path | None = None, ckpt_interval_s: float = 120.0,
               stop_after: int | None = None) -> list[dict] | None:
    """Train the members together and write each one's run JSON atomically (None if stopped early)."""
    t0 = time.perf_counter()
    keep_freed_memory()
    device = choose_device(cfgs[0].get("device", "auto"))
    preps = [prepare(c, device) for c in cfgs]
    trainer = PackedTrainer(cfgs, preps, device)
    trainer.fit(ckpt, ckpt_interval_s, stop_after)
    if trainer.epoch < cfgs[0]["epochs"]:
        return None
    docs = []
    for m, prep, out in zip(trainer.members, preps, outs):
        doc = run_result(m.cfg, prep, m.history, time.perf_counter() - t0, device)
        doc["timing"]["packed"] = {"mode": "vmap", "members": len(cfgs)}
        docs.append(finish_run(Path(out), doc, None))
    if ckpt is not None:
        Path(ckpt).unlink(missing_ok=True)
    return docs
