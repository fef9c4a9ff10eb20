"""Packed training: one process trains the K runs of a pack, one after another.

A pack is one Snakemake job whose outputs are its members' run JSONs (``tasks/training.smk``). The
job pays for starting Python and importing PyTorch once instead of K times, and each member is
trained by its task's own command line (``<module>.main``) exactly as it would be alone: its own
config, seed, checkpoint and run JSON (``tests/test_packing.py`` checks the JSONs are equal). A
member that fails (an error, NaN) does not stop the others; the job then exits with status 1 and
names the members that failed.

Usage: ``python -m saidl.common.pack saidl.coreml.train --members '[{"config": {...}, "out": "a.json",
"ckpt": "a.pt"}, ...]' [--threads N] [any further argument, passed to every member]``

``--mode vmap`` instead trains the members as one batched model with the task's
``saidl.<task>.packed.run_packed`` (Core ML and the paper, SSM, RL), for GPU throughput. On a CPU
those modules run each member's layers on its slices of the stacked weights, and a member's run
JSON equals its run alone bit for bit (Core ML's plain MLP aside: batched there, equal to float32
rounding); on CUDA they batch (``torch.func.vmap``, ``baddbmm``) and agree to rounding.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback

from .errors import ConfigError, SaidlError


def member_argv(member: dict, threads: int | None, extra: list[str]) -> list[str]:
    """The command line of one member, as its task's training module takes it alone."""
    argv = ["--config-json", json.dumps(member["config"], sort_keys=True), "--out", str(member["out"])]
    if member.get("ckpt"):
        argv += ["--ckpt", str(member["ckpt"])]
    if threads is not None:
        argv += ["--threads", str(threads)]
    return argv + list(extra)


def parse_members(text: str) -> list[dict]:
    """The members of ``--members`` (JSON text), each a dict with ``config`` and ``out``."""
    try:
        members = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--members is not valid JSON ({exc})") from None
    if not isinstance(members, list) or not members or not all(
            isinstance(m, dict) and isinstance(m.get("config"), dict) and m.get("out") for m in members):
        raise ConfigError('--members must be a non-empty JSON list of {"config": {...}, "out": path, '
                          '"ckpt": path or null}')
    return members


def run_pack(module: str, members: list[dict], threads: int | None = None, extra: list[str] = ()) -> list[str]:
    """Train every member with ``<module>.main``; returns the run ids of the members that failed."""
    main = importlib.import_module(module).main
    failed = []
    for i, member in enumerate(members, 1):
        rid = member["config"].get("run_id", str(member["out"]))
        print(f"[pack {i}/{len(members)}] {rid}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            rc = main(member_argv(member, threads, list(extra)))
        except Exception:  # one member's failure is reported, and the others still train
            traceback.print_exc()
            rc = 1
        if rc:
            failed.append(rid)
        print(f"[pack {i}/{len(members)}] {rid}: {'failed' if rc else 'done'} in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return failed


def run_vmapped(module: str, members: list[dict], threads: int | None, ckpt: str | None) -> None:
    """``pack_mode: vmap``: the members as one batched model, by the task's ``packed`` module."""
    from .runtime import set_threads

    name = module.rsplit(".", 1)[0] + ".packed"
    try:
        packed = importlib.import_module(name)
    except ModuleNotFoundError:
        raise ConfigError(f"pack_mode vmap: {module}'s task has no batched trainer ({name}); "
                          "use pack_mode: serial") from None
    set_threads(threads)
    packed.run_packed([m["config"] for m in members], [m["out"] for m in members], ckpt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", help="the task's training module, e.g. saidl.coreml.train")
    ap.add_argument("--members", required=True, help="JSON list of {config, out, ckpt}")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--mode", choices=("serial", "vmap"), default="serial",
                    help="serial: one member after another; vmap: one batched model (saidl.<task>.packed)")
    ap.add_argument("--pack-ckpt", default=None, help="vmap: the pack's checkpoint file")
    args, extra = ap.parse_known_args(argv)
    try:
        members = parse_members(args.members)
        if args.mode == "vmap":
            if extra:
                raise ConfigError(f"pack_mode vmap takes no further arguments ({' '.join(extra)})")
            run_vmapped(args.module, members, args.threads, args.pack_ckpt)
            return 0
    except SaidlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = run_pack(args.module, members, args.threads, extra)
    if failed:
        print(f"error: {len(failed)} of {len(members)} members of this pack failed: {', '.join(failed)} "
              "(their errors are above). The pack's other run JSONs were written; Snakemake removes "
              "every output of a failed job, so the pack trains again on the next run.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
