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


def validate(config: dict, schema_path: str | Path, source: str) -> None:
    """Validate ``config`` against a YAML JSON-schema; raise ConfigError naming the key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    raise ConfigError(
        f"invalid config at '{_where(error.absolute_path)}': {error.message}. "
        f"Fix it in {source} or in the --config you passed (schema: {schema_path})")


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
