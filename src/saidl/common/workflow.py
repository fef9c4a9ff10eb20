"""Helpers of the Snakemake rules (Snakefile, tasks/common.smk, tasks/*/rules.smk): the task list,
a module's real code inputs, and the pieces every rule shares. Plain Python, importable without
Snakemake, so that the rule files hold rules only.

A rule's code inputs are computed, never hand-listed: :func:`code_inputs` is a module's file plus
every ``saidl`` module it imports, transitively (read with :mod:`ast`, nothing is imported), so
editing a shared helper reruns every figure, table or summary drawn with it.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from saidl.common.config import scale_changes
from saidl.common.errors import ConfigError

# The one list of tasks (name -> title of its part of the combined report), in the report's order.
TASKS_FILE = "config/tasks.yaml"

# The torch threads of a timing job, which reserves every core (threads: workflow.cores) so that no
# other job runs beside it: all of them, at most the machine's (a shell expression).
TIMING_THREADS = "$(( {threads} < $(nproc) ? {threads} : $(nproc) ))"

# Every shell command sends its output to the job's log and, when it fails, shows the log's last lines.
LOG_TAIL = " > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


def load_tasks(root: str | Path = ".") -> dict[str, str]:
    """The tasks of ``config/tasks.yaml`` under ``root``: name -> title, in the report's order."""
    path = Path(root) / TASKS_FILE
    try:
        tasks = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    if not isinstance(tasks, dict) or not tasks or not all(
            isinstance(k, str) and re.fullmatch(r"[a-z][a-z0-9_]*", k) and isinstance(v, str) and v
            for k, v in tasks.items()):
        raise ConfigError(f"{path}: must map each task's name (a Python package name under src/saidl) "
                          "to the title of its report")
    return tasks


def check_selected(selected: list, tasks: dict[str, str]) -> None:
    """A ConfigError naming the first selected task (``tasks`` of the config) that is not a task."""
    for i, name in enumerate(selected):
        if name not in tasks:
            raise ConfigError(f"invalid config at 'tasks[{i}]': {name!r} is not one of {list(tasks)}. "
                              f"Fix it in config/config.yaml or in the --config you passed (tasks: {TASKS_FILE})")


def gpus(device: str, scale: str) -> int:
    """The GPUs (``resources: gpu``) a job of this device setting takes: one for ``cuda...``, and
    for ``auto`` at the full scale; none otherwise."""
    return 1 if device.startswith("cuda") or (device == "auto" and scale == "full") else 0


def logged(*parts: str) -> str:
    """A shell command (its parts joined) whose output goes to ``{log}``; a failure shows the log's tail."""
    return "".join(parts).rstrip() + LOG_TAIL


def constant(value):
    """A params function returning ``value`` (a plain string param would have its braces expanded)."""
    return lambda wildcards: value


def lazy(func, *args, **kwargs):
    """A params function calling ``func(*args, **kwargs)`` when a job needs it, not when the rules
    are read (and, unlike a plain string param, never formatted: JSON keeps its braces)."""
    return lambda wildcards: func(*args, **kwargs)


def input_dir(name: str):
    """A params function: the folder of the job's input ``name`` (its first file when a list)."""
    return lambda wildcards, input: _Folders(input)[name]


class _Folders:
    """``folders[name]``: the folder of a job's input ``name`` (its first file when a list)."""

    def __init__(self, input):
        self.input = input

    def __getitem__(self, name: str) -> str:
        files = self.input[name]
        return os.path.dirname(files if isinstance(files, str) else files[0])


def arguments(template: str):
    """A params function: ``template`` formatted with the job's inputs (``{input.study}``) and
    their folders (``{folder[evals]}``), with a space in front ("" for an empty template)."""
    return lambda wildcards, input: " " + template.format(input=input, folder=_Folders(input)) if template else ""


def module_name(prefix: str, wildcard: str):
    """A params function: the module ``<prefix>.<the wildcard's value>``."""
    return lambda wildcards: f"{prefix}.{wildcards[wildcard]}"


def wildcard_value(wildcard: str):
    """A params function: the wildcard's value."""
    return lambda wildcards: wildcards[wildcard]


class Rehearsal:
    """The fake assets (``python -m saidl.fakes``) that a job reads at the rehearsal scale; none elsewhere."""

    def __init__(self, fakes_dir: str, scale: str):
        self.fakes_dir, self.scale = fakes_dir, scale

    def assets(self, *names: str) -> list[str]:
        return [f"{self.fakes_dir}/.complete/{a}.json" for a in names] if self.scale == "rehearsal" else []


def scale_changes_json(config: dict, scale: str, *tasks: str) -> str:
    """The rehearsal's differences from full for the report's first page (JSON; [] at other scales)."""
    return json.dumps([c for t in tasks for c in scale_changes(config[t], t, scale)])


# ------------------------------------------------------------------------------- code inputs


def _module_file(module: str, src: Path) -> Path | None:
    """The file of a dotted module name under ``src`` (a package's ``__init__.py``), or None."""
    base = src.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(module: str, path: Path, src: Path) -> set[str]:
    """The ``saidl`` modules one file imports (anywhere in it, relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # `from pkg import sub`: sub is a module of its own when it has a file
            found.update(f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}", src))
    return {m for m in found if (m == "saidl" or m.startswith("saidl.")) and _module_file(m, src)}


def code_inputs(module: str, src: str = "src") -> list[str]:
    """``module``'s file and the file of every ``saidl`` module it imports, transitively, as paths
    under ``src`` (sorted). Packages only passed through on the way to a module are not included."""
    return list(_closure(module, src))


@lru_cache(maxsize=None)
def _closure(module: str, src: str) -> tuple[str, ...]:
    root = Path(src)
    if _module_file(module, root) is None:
        raise ConfigError(f"module {module} has no file under {src}/")
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_imported(name, _module_file(name, root), root) - seen)
    return tuple(sorted(str(_module_file(m, root)) for m in seen))


_LISTING = re.compile(r"""listing\(\s*['"]([\w.]+)['"]""")


def listed_modules(template_files: list[str], src: str = "src") -> list[str]:
    """The modules whose code the templates print (``listing('saidl.pkg.mod.Obj')``), as dotted names:
    the longest prefix of each listed name that is a module under ``src``."""
    root, modules = Path(src), set()
    for tex in template_files:
        for name in _LISTING.findall(Path(tex).read_text()):
            parts = name.split(".")
            for n in range(len(parts), 0, -1):
                if _module_file(".".join(parts[:n]), root):
                    modules.add(".".join(parts[:n]))
                    break
            else:
                raise ConfigError(f"{tex}: listing('{name}') names no module under {src}/")
    return sorted(modules)


# ------------------------------------------------------------------------------- the shared chain


@dataclass
class Chain:
    """What one task's shared rules (tasks/common.smk: grid, collect, figure, table, tex, pdf) need
    from the task; its own rules (training, special steps) stay in tasks/<task>/rules.smk.

    ``wildcard``: the prefix of the figure and table wildcards (``{<wildcard>_figure}``);
    ``grids``: name -> JSON-able value, each written to ``<task results>/<name>.json`` by
    ``<task>_grid`` (``grid``: the run configs that the collect step checks each run against);
    ``runs``: the ids of the task's own run JSONs (``runs/<id>.json``) that the collect step reads;
    ``collect_inputs``: its other inputs, by name (e.g. the paper's runs shared with Core ML, made
    by Core ML's train rule); ``collect_args``: its arguments between
    ``--runs-dir`` and ``--out``, formatted with ``{input.<name>}`` and ``{folder[<name>]}`` (the
    folder of an input); ``figures``, ``tables``: names (modules ``saidl.<task>.figures.<name>``,
    ``python -m saidl.<task>.tables <name>``); ``pdf_inputs``: more inputs of the PDF (images);
    ``changes``: more tasks whose rehearsal changes page 1 lists.
    """

    wildcard: str
    grids: dict
    runs: list
    figures: tuple = ()
    tables: tuple = ()
    collect_inputs: dict = field(default_factory=dict)
    collect_args: str = ""
    pdf_inputs: dict = field(default_factory=dict)
    changes: tuple = ()


def template_files(task: str) -> list[str]:
    """The templates a task's report is rendered from: its own and the shared ones."""
    return sorted(str(p) for p in Path(f"templates/{task}").glob("*.tex")) + sorted(
        str(p) for p in Path("templates/common").glob("*.tex") if p.name != "combined.tex")


def tex_code_inputs(task: str, src: str = "src") -> list[str]:
    """The code a task's rendered TeX depends on: its report module (the template context) and
    every module it imports, and the modules whose code the templates print."""
    files = set(code_inputs(f"saidl.{task}.report", src))
    files.update(str(_module_file(m, Path(src))) for m in listed_modules(template_files(task), src))
    return sorted(files)


def module_inputs(prefix: str, wildcard: str, src: str = "src"):
    """An input function: the code inputs of module ``<prefix>.<the wildcard's value>``."""
    return lambda wildcards: code_inputs(f"{prefix}.{wildcards[wildcard]}", src)


def wildcard_choice(names) -> str:
    """A wildcard constraint matching exactly one of ``names`` (never empty: Snakemake would match anything)."""
    return "|".join(re.escape(n) for n in names) or "NONE"


def packs(runs: dict[str, dict], k: int, key) -> dict[str, list[str]]:
    """The runs trained together, as packs of at most ``k`` (config ``pack``): runs whose
    ``key(config)`` agree (one noise setting, one model shape), in grid order, split into the fewest
    packs of near-equal size. A pack's name is its key and index, fit for a rule name. Runs left
    alone (``k`` = 1, or a key with one run) are in no pack: they train by the one-run rule."""
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"pack must be a whole number >= 1 (runs trained per job), not {k!r}")
    groups: dict[str, list[str]] = {}
    for rid, cfg in runs.items():
        groups.setdefault(str(key(cfg)), []).append(rid)
    out = {}
    for name, ids in groups.items():
        n = -(-len(ids) // k)  # packs of this key
        size, extra = divmod(len(ids), n)
        start = 0
        for i in range(n):
            members = ids[start:start + size + (i < extra)]
            start += len(members)
            if len(members) > 1:
                out[re.sub(r"\W+", "_", f"{name}_p{i}").strip("_")] = members
    return out
