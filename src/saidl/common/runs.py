"""Reading run JSONs back: each is checked against its task's schema and its grid config."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from .errors import RunSchemaError
from .io import read_json


def load_run(path: Path, expected: dict, schema: dict) -> dict:
    """Read one run JSON, check it against ``schema`` and against the config it should hold."""
    if not path.exists():
        raise RunSchemaError(f"run {path} is missing; rerun its training job "
                             f"(snakemake --cores 1 {path})")
    try:
        run = read_json(path)
        jsonschema.validate(run, schema)
    except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
        msg = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
        raise RunSchemaError(f"run {path} is malformed ({msg}); delete it and rerun its training "
                             f"job (snakemake --cores 1 {path})") from None
    if run["config"] != expected:
        raise RunSchemaError(f"run {path} was made with another config than the current grid; "
                             f"delete it and rerun (snakemake --cores 1 {path})")
    return run

