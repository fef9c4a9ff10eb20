"""Timeouts in the tests only catch hangs: a loaded machine (3x its cores) must still pass.

A test that starts a subprocess or a workflow with a limit sized for an idle machine fails on a
busy CI runner with nothing wrong (a 600 s limit once fired on a smoke build at load 6 on 2 cores).
Every literal limit in the tests must be at least the shared hang limit, or be a test of a timeout
itself (listed below with its reason)."""

import ast
from pathlib import Path

import pytest

from conftest import HANG_TIMEOUT, REPO

# (file, line text fragment): limits that are the subject of the test, not a guard
INTENDED = {("test_report.py", "compile_pdf(tex, tmp_path / \"loop.pdf\", timeout=1)")}


def _limits(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = path.read_text().splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.arguments):  # def wait(..., timeout=30): a helper's default limit
            args = node.posonlyargs + node.args
            pairs = list(zip(args[len(args) - len(node.defaults):], node.defaults))
            pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults) if d is not None]
            for arg, value in pairs:
                if arg.arg == "timeout" and isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
                    yield value.lineno, value.value, lines[value.lineno - 1].strip()
            continue
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        values = [kw.value for kw in node.keywords if kw.arg == "timeout"]
        if name == "timeout" and node.args:  # pytest.mark.timeout(N)
            values.append(node.args[0])
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
                yield node.lineno, value.value, lines[node.lineno - 1].strip()


@pytest.mark.parametrize("path", sorted((REPO / "tests").glob("*.py")), ids=lambda p: p.name)
def test_no_test_limit_is_sized_for_an_idle_machine(path):
    short = [f"{path.name}:{line}: timeout {value:g} s < {HANG_TIMEOUT} s ({text})"
             for line, value, text in _limits(path) if value < HANG_TIMEOUT
             and not any(path.name == f and frag in text for f, frag in INTENDED)]
    assert not short, "use conftest.HANG_TIMEOUT: " + "; ".join(short)


def test_the_per_test_limit_is_generous():
    text = (REPO / "pyproject.toml").read_text()
    limit = next(int(line.split("=")[1].split("#")[0]) for line in text.splitlines()
                 if line.strip().startswith("timeout ="))
    assert limit >= 1800
