"""Config validation with one clear line per error: what, where, how to fix."""

from __future__ import annotations

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


def scale_block(task_cfg: dict, task: str, scale: str) -> dict:
    """The block of ``scale`` in a task's config, or a ConfigError naming the defined scales."""
    try:
        return task_cfg["scales"][scale]
    except KeyError:
        raise ConfigError(f"scale '{scale}' has no block under {task}.scales in tasks/{task}/config.yaml; "
                          f"defined: {', '.join(task_cfg['scales'])}") from None


def defined_entry(task_cfg: dict, task: str, section: str, name: str, where: str) -> dict:
    """``task_cfg[section][name]``; a name the task's config does not define is a ConfigError that
    says where it was used (``where``, below ``<task>.scales``) and which names are defined."""
    try:
        return task_cfg[section][name]
    except KeyError:
        raise ConfigError(f"{task}.scales.{where} names '{name}', which is not defined under {task}.{section} in "
                          f"tasks/{task}/config.yaml; defined: {', '.join(task_cfg[section])}") from None
