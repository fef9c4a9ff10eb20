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
