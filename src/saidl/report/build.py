"""Command line of the report steps shared by every task.

``render``  a task's Jinja2 template + its summary  -> ``tex/report.tex``
``pdf``     latexmk on a generated .tex              -> the task's PDF
``combine`` every task's PDF                         -> one combined PDF (pdfpages)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from saidl.common.cli import exit_code
from saidl.common.io import read_json
from saidl.common.paths import templates_dir, tex_dir
from saidl.report.jinja import make_env, render_template
from saidl.report.latex import Tex, escape_tex
from saidl.report.latexmk import compile_pdf
from saidl.report.listings import code_listing



def environment():
    env = make_env([templates_dir()])
    env.globals["listing"] = code_listing
    return env


def render(task: str, summary_path: Path, out: Path, scale_changes: list[dict] | None = None) -> Path:
    """Render ``templates/<task>/report.tex`` with the context the task's report module builds,
    plus ``scale_changes``: the rehearsal's differences from full (``m.scale_note`` on page 1)."""
    module = importlib.import_module(f"saidl.{task}.report")
    context = module.context(read_json(summary_path))
    # a dotted key may break after each dot (long keys would run out of the page-1 box)
    context.setdefault("scale_changes", [{**c, "key": Tex(escape_tex(c["key"]).replace(".", ".\\allowbreak{}"))}
                                         for c in scale_changes or []])
    return render_template(environment(), f"{task}/report.tex", context, out)


def combine(pdfs: list[Path], titles: list[str], scale: str, out: Path) -> Path:
    """One PDF holding every task's report, after a title page and a table of contents."""
    tex = out.with_suffix(".tex")
    context = {"scale": scale, "parts": [{"title": t, "file": p.resolve().relative_to(out.parent.resolve()).as_posix()}
                                         for t, p in zip(titles, pdfs)]}
    render_template(environment(), "common/combined.tex", context, tex)
    return compile_pdf(tex, out, texinputs=[tex_dir()])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--task", required=True)
    r.add_argument("--summary", required=True, type=Path)
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--scale-changes", default="[]", help="JSON list of {key, full, value}: the rehearsal's changes")
    p = sub.add_parser("pdf")
    p.add_argument("--tex", required=True, type=Path)
    p.add_argument("--pdf", required=True, type=Path)
    p.add_argument("--texinputs", nargs="*", type=Path, default=[])
    c = sub.add_parser("combine")
    c.add_argument("--pdfs", nargs="+", type=Path, required=True)
    c.add_argument("--titles", nargs="+", required=True)
    c.add_argument("--scale", required=True)
    c.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    actions = {
        "render": lambda: render(args.task, args.summary, args.out, json.loads(args.scale_changes)),
        "pdf": lambda: compile_pdf(args.tex, args.pdf, texinputs=[tex_dir(), *args.texinputs]),
        "combine": lambda: combine(args.pdfs, args.titles, args.scale, args.out),
    }
    return exit_code(actions[args.cmd])


if __name__ == "__main__":
    sys.exit(main())
