"""Config validation with one clear line per error: what, where, how to fix."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *anchor` merges may be overridden on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:
                    continue  # an unhashable key: the base class says what is wrong
                line = key_node.start_mark.line + 1
                if first != line:
                    raise ConfigError(
                        f"{self.name}:{line}: key '{key}' is given twice in one mapping (lines {first} and "
                        f"{line}); YAML would silently keep only the last value: delete or rename one of them")
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path, what: str = "config") -> object:
    """A YAML (or JSON) file parsed strictly: a syntax error or a duplicate key is a ConfigError
    that starts with ``file:line:``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        as_json = _json_or_none(text, path)  # JSON that YAML refuses (tab indentation): Snakemake reads it
        if as_json is not None:
            return as_json
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what_wrong = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark and exc.context_mark is not mark:
            what_wrong += f" ({exc.context} at line {exc.context_mark.line + 1})"
        if "\t" in what_wrong or "\\t" in what_wrong:
            what_wrong += "; indent with spaces, not tabs"
        raise ConfigError(f"{where}: invalid YAML: {what_wrong}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _json_or_none(text: str, path: Path):
    """``text`` parsed as JSON (a duplicate key is a ConfigError), or None when it is not JSON."""
    import json

    def pairs(items):
        out = {}
        for key, value in items:
            if key in out:
                raise ConfigError(f"{path}: key '{key}' is given twice in one object; JSON readers silently keep "
                                  "only the last value: delete or rename one of them")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return None


def check_config_file(path: str | Path) -> dict:
    """A config file parsed strictly (see :func:`load_yaml`); its top level must be a mapping."""
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a config file must be a mapping of keys (key: value) at the top level, "
                          f"not a {type(data).__name__}")
    return data


def validate(config: dict, schema_path: str | Path, source: str) -> None:
    """Validate ``config`` against a YAML JSON-schema; raise ConfigError naming the key."""
    schema = load_yaml(schema_path, "schema")
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    why = error.schema.get("description") if isinstance(error.schema, dict) else None
    raise ConfigError(
        f"invalid config at '{_where(error.absolute_path)}': {error.message}"
        f"{f' ({why})' if why else ''}. "
        f"Fix it in {source} or in the --config you passed (schema: {schema_path})")


class RunGrid(dict):
    """Run id -> run config. :meth:`add` refuses a second, different config under an id it already
    holds (e.g. eta 0.8 and 0.8000001 both print as ``0.8``), naming both config entries; the same
    config added twice is one run."""

    def __init__(self, task: str):
        super().__init__()
        self.task = task
        self.origin: dict[str, str] = {}

    def add(self, rid: str, cfg: dict, where: str) -> str:
        if rid in self and self[rid] != cfg:
            raise ConfigError(
                f"{self.origin[rid]} and {where} both map to the run id '{rid}', so one run would silently "
                f"replace the other. Change or remove one of them in tasks/{self.task}/config.yaml (or in the "
                "--config you passed): a run id keeps 6 significant digits of a number, and a name's spaces and "
                "punctuation become _")
        self[rid] = cfg
        self.origin.setdefault(rid, where)
        return rid

    def __delitem__(self, rid):
        super().__delitem__(rid)
        self.origin.pop(rid, None)


def slug(name: str, keep: str = "-") -> str:
    """``name`` as a file-name and wildcard-safe id: ASCII letters and digits, the characters in
    ``keep``; every other character becomes ``_`` (runs of ``_`` collapse, none at either end)."""
    out = "".join(c if (c.isascii() and c.isalnum()) or c in keep else "_" for c in name)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


# The scales that run the papers' protocols: `rehearsal` is `full` with only budgets shrunk (and its
# data and weights replaced by format-exact local fakes), so every full-only section runs at both.
FULL_PROTOCOL = ("full", "rehearsal")


def full_protocol(scale: str) -> bool:
    """True at the scales whose reports hold the full-only sections (full and its rehearsal)."""
    return scale in FULL_PROTOCOL


def _merge(base, changes: dict) -> dict:
    """``base`` with ``changes`` applied: nested mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def rehearsal_block(task_cfg: dict, task: str) -> dict:
    """The ``rehearsal`` scale of a task: its ``full`` block with the task's ``rehearsal`` changes."""
    if "full" not in task_cfg.get("scales", {}):
        raise ConfigError(f"{task}.scales has no 'full' block in tasks/{task}/config.yaml, so the rehearsal "
                          "(full with budgets shrunk) cannot be built")
    changes = task_cfg.get("rehearsal")
    if not isinstance(changes, dict):
        raise ConfigError(f"{task}.rehearsal is missing in tasks/{task}/config.yaml: it lists the values that the "
                          "rehearsal scale changes in the full block (budgets and fake-data locations)")
    return _merge(task_cfg["scales"]["full"], changes)


def with_rehearsal(task_cfg: dict, task: str) -> dict:
    """``task_cfg`` with ``scales.rehearsal`` resolved (for schema validation); unchanged without one."""
    if not isinstance(task_cfg, dict) or "rehearsal" not in task_cfg:
        return task_cfg
    return {**task_cfg, "scales": {**task_cfg.get("scales", {}), "rehearsal": rehearsal_block(task_cfg, task)}}


def scale_block(task_cfg: dict, task: str, scale: str) -> dict:
    """The block of ``scale`` in a task's config, or a ConfigError naming the defined scales.
    ``rehearsal`` is derived: the ``full`` block with the task's ``rehearsal`` changes applied."""
    if scale == "rehearsal":
        return rehearsal_block(task_cfg, task)
    try:
        return task_cfg["scales"][scale]
    except KeyError:
        raise ConfigError(f"scale '{scale}' has no block under {task}.scales in tasks/{task}/config.yaml; "
                          f"defined: {', '.join(task_cfg['scales'])}") from None


def _flatten(changes: dict, full, prefix: str):
    for key, value in changes.items():
        path = f"{prefix}.{key}"
        old = full.get(key) if isinstance(full, dict) else None
        if isinstance(value, dict) and isinstance(old, dict):
            yield from _flatten(value, old, path)
        else:
            yield path, (old if isinstance(full, dict) and key in full else "(not set)"), value


def _show(value) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def scale_changes(task_cfg: dict, task: str, scale: str) -> list[dict]:
    """Every value the scale changes in the full block, as ``{key, full, value}`` strings (key with
    the task's name first, e.g. ``coreml.epochs``); empty at every scale but the rehearsal."""
    if scale != "rehearsal":
        return []
    rehearsal_block(task_cfg, task)  # the clear error when the task has no rehearsal
    return [{"key": key, "full": _show(old), "value": _show(new)}
            for key, old, new in _flatten(task_cfg["rehearsal"], task_cfg["scales"]["full"], task)]


def defined_entry(task_cfg: dict, task: str, section: str, name: str, where: str) -> dict:
    """``task_cfg[section][name]``; a name the task's config does not define is a ConfigError that
    says where it was used (``where``, below ``<task>.scales``) and which names are defined."""
    try:
        return task_cfg[section][name]
    except KeyError:
        raise ConfigError(f"{task}.scales.{where} names '{name}', which is not defined under {task}.{section} in "
                          f"tasks/{task}/config.yaml; defined: {', '.join(task_cfg[section])}") from None


def main(argv: list[str] | None = None) -> int:
    """``python -m saidl.common.config FILE...``: read config files strictly and say ``file:line: what
    is wrong`` (for a --configfile, which Snakemake reads before the workflow can check it)."""
    import sys

    from .cli import exit_code

    files = sys.argv[1:] if argv is None else argv

    def check() -> None:
        for f in files:
            check_config_file(f)
        print(f"ok: {', '.join(files)}")

    return exit_code(check)


if __name__ == "__main__":
    raise SystemExit(main())
