"""Snakemake's directory lock, explained: who holds it, and the one command that removes a stale one.

Snakemake (file persistence) writes ``.snakemake/locks/<n>.input.lock`` and ``<n>.output.lock`` when
a run starts and deletes them when it ends. A ``kill -9`` or a power loss leaves them behind, and
every later run that would touch the same files stops with a LockException until someone runs
``snakemake --unlock``. These helpers tell a live lock from a stale one by looking for a Snakemake
process working in the same folder (Linux /proc; without /proc no process is found).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

DRY_RUN = ("-n", "--dry-run", "--dryrun", "--dry_run")
NO_CHECK = ("--unlock", "--nolock")  # the runs that ignore or remove the lock themselves


def lock_files(workdir: str | Path) -> list[Path]:
    """The lock files Snakemake left in ``workdir`` (none: no lock)."""
    folder = Path(workdir) / ".snakemake" / "locks"
    return sorted(folder.glob("*.lock")) if folder.is_dir() else []


def _is_snakemake(argv: list[str]) -> bool:
    """``snakemake ...``, ``python /path/to/snakemake ...`` or ``python -m snakemake ...``."""
    if any(os.path.basename(a) == "snakemake" for a in argv[:2]):
        return True
    return any(a == "-m" and b == "snakemake" for a, b in zip(argv[:3], argv[1:4]))


def snakemake_pids(workdir: str | Path, exclude: tuple[int, ...] = ()) -> list[int]:
    """Every other live Snakemake process whose working directory is ``workdir``."""
    here = os.path.realpath(workdir)
    skip = {os.getpid(), *exclude}
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if _is_snakemake(argv) and os.path.realpath(os.readlink(entry / "cwd")) == here:
                pids.append(pid)
        except OSError:  # gone meanwhile, or another user's process
            continue
    return sorted(pids)


def is_dry_run(argv: list[str]) -> bool:
    return any(a in DRY_RUN or re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", a) for a in argv[1:])


def unlock_command(argv: list[str]) -> str:
    """The user's command with ``--unlock`` added (and a dry run's ``-n`` dropped), ready to paste."""
    prog = argv[0] if argv else "snakemake"
    if prog.endswith("__main__.py") or not prog:
        prog = "snakemake"
    elif os.path.basename(prog) == "snakemake" and shutil.which("snakemake") \
            and os.path.realpath(shutil.which("snakemake")) == os.path.realpath(prog):
        prog = "snakemake"
    args = []
    for a in argv[1:]:
        if a in DRY_RUN or a == "--unlock":
            continue
        if re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", a):
            a = a.replace("n", "")
            if a == "-":
                continue
        args.append(a)
    return shlex.join([prog, "--unlock", *args])


def stale_lock_message(workdir: str | Path, argv: list[str], command: str | None = None) -> str | None:
    """One line for a lock that no live Snakemake process holds; None when there is no lock or a
    Snakemake process is running in ``workdir``. ``command``: the unlock command (default: from argv)."""
    if not lock_files(workdir) or snakemake_pids(workdir):
        return None
    return (f"a lock left by an interrupted Snakemake run is in {Path(workdir).resolve() / '.snakemake/locks'} "
            f"and no Snakemake process is running in this folder; remove it with: "
            f"{command or unlock_command(argv)}   then run your command again")


def lock_exception_message(workdir: str | Path, argv: list[str], command: str | None = None) -> str:
    """What a run that finds the folder locked says: who holds the lock, or the one command that
    removes a stale one."""
    pids = snakemake_pids(workdir)
    if pids:
        who = ", ".join(map(str, pids))
        return (f"the folder {Path(workdir).resolve()} is locked by the Snakemake process {who}, which is still "
                f"running: wait for it to finish (or stop it: kill {' '.join(map(str, pids))}), then run your "
                "command again")
    command = command or unlock_command(argv)
    return stale_lock_message(workdir, argv, command) or (
        f"the folder {Path(workdir).resolve()} is locked; if no Snakemake runs on it (here or on another machine), "
        f"remove the lock with: {command}   then run your command again")


def explain_locks(workdir: str | Path, argv: list[str] | None = None) -> None:
    """For the Snakefile: make Snakemake's lock failure say :func:`lock_exception_message`, and in a
    dry run (which only warns about a lock) print the stale-lock line first."""
    argv = list(sys.argv if argv is None else argv)
    if any(a in NO_CHECK for a in argv[1:]):
        return
    command = unlock_command(argv)  # now: the user's PATH decides how to spell the program
    try:
        import snakemake.exceptions as smx
    except ImportError:
        return
    base = getattr(smx, "LockException", None)
    if base is not None and not getattr(base, "_saidl", False):
        class LockException(base):  # raised by persistence.lock(): snakemake.exceptions.LockException()
            _saidl = True

            def __init__(self, *args, **kwargs):
                smx.WorkflowError.__init__(self, lock_exception_message(workdir, argv, command))

        smx.LockException = LockException
    if is_dry_run(argv):
        line = stale_lock_message(workdir, argv, command)
        if line:
            print(f"note: {line}", file=sys.stderr)
