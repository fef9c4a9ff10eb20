"""What the batched packs (``saidl.coreml.packed``, ``saidl.ssm.packed``, ``saidl.rl.packed``)
share: the check that members can stack, the epoch loop with its checkpoints, moving one member's
gradients into the stacked ones, and restoring the stacked tensors and optimiser of a pack
checkpoint."""

from __future__ import annotations

import sys
import time


def fit_epochs(trainer, epochs: int, ckpt, key: dict, ckpt_interval_s: float, stop_after: int | None,
               one_epoch) -> None:
    """The epoch loop of a batched pack (``saidl.coreml.packed``, ``saidl.ssm.packed``): from
    ``trainer.epoch`` to ``epochs``, ``one_epoch(epoch)`` trains, evaluates and records one epoch of
    every member and returns the progress bar's text; ``trainer.state()`` is checkpointed to
    ``ckpt`` (with ``key``) every ``ckpt_interval_s`` seconds and after epoch ``stop_after``, where
    the loop stops (tests)."""
    from tqdm import tqdm

    from .checkpoint import save_checkpoint

    last = time.monotonic()
    bar = tqdm(range(trainer.epoch, epochs), desc=f"pack of {len(key['pack'])}", initial=trainer.epoch,
               total=epochs, file=sys.stderr, mininterval=2.0)
    for epoch in bar:
        text = one_epoch(epoch)
        trainer.epoch = epoch + 1
        bar.set_postfix(test=text)
        stopping = stop_after is not None and trainer.epoch >= stop_after
        if ckpt is not None and (stopping or time.monotonic() - last >= ckpt_interval_s):
            save_checkpoint(ckpt, {**trainer.state(), "config": key})
            last = time.monotonic()
        if stopping:
            break


def check_shared(cfgs: list[dict], keys: tuple[str, ...]) -> None:
    """A ConfigError naming the first of ``keys`` on which members of one batched pack differ."""
    from .errors import ConfigError

    for key in keys:
        values = {repr(c.get(key)) for c in cfgs}
        if len(values) > 1:
            raise ConfigError(f"runs {cfgs[0].get('run_id')} and others of one vmap pack differ in '{key}' "
                              f"({', '.join(sorted(values))}); a pack's members share {', '.join(keys)}. "
                              "Change the pack key or use pack_mode: serial")


def collect_grads(leaves: dict, grads: dict, k: int) -> None:
    """Member ``k``'s gradients, on its leaves (views of its slices), into slice ``k`` of the stacked
    gradients ``grads``; zero where its loss did not reach a parameter. Clears the leaves' grads."""
    import torch

    with torch.no_grad():
        for n, leaf in leaves.items():
            if leaf.grad is None:
                grads[n][k].zero_()
            else:
                grads[n][k].copy_(leaf.grad)
                leaf.grad = None


def loop_step(pack, n_members: int, member_loss) -> list:
    """The ``loop`` path's training step of a batched pack: each member's forward and backward in
    turn on its leaves (views of its slices of the stacked ``pack.params``: its alone model's
    tensors, same values, same strides) and its slices of ``pack.buffers`` (updated in place);
    ``member_loss(k, leaves, buffers)`` runs member ``k``'s forward and returns its loss. Its
    gradients then go into its slices of the stacked gradients, which the pack's clipping and
    optimiser read. One member's graph at a time: the memory of one run, not K. Returns the
    detached losses."""
    import torch

    if getattr(pack, "_leaves", None) is None:
        pack._leaves = [{n: p.detach()[k].requires_grad_(True) for n, p in pack.params.items()}
                        for k in range(n_members)]
        pack._grads = {n: torch.zeros_like(p) for n, p in pack.params.items()}
    losses = []
    for k in range(n_members):
        leaves = pack._leaves[k]
        loss = member_loss(k, leaves, {n: b[k] for n, b in pack.buffers.items()})
        loss.backward()
        collect_grads(leaves, pack._grads, k)
        losses.append(loss.detach())
    for n, p in pack.params.items():
        p.grad = pack._grads[n]
    return losses


def restore_stacked(pack, st: dict) -> None:
    """A pack checkpoint's stacked parameters and buffers, optimiser and scheduler states into the
    live pack (``pack.params``, ``pack.buffers``, ``pack.opt``, ``pack.sched``)."""
    import torch

    with torch.no_grad():
        for k, v in st["params"].items():
            pack.params[k].copy_(v)
        for k, v in st["buffers"].items():
            pack.buffers[k].copy_(v)
    pack.opt.load_state_dict(st["opt"])
    pack.sched.load_state_dict(st["sched"])
