"""Command line of the report steps shared by every task.

``render``  a task's Jinja2 template + its summary  -> ``tex/report.tex``
``pdf``     latexmk on a generated .tex              -> the task's PDF
``combine`` every task's PDF                         -> one combined PDF (pdfpages)
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

from saidl.common.cli import exit_code
from saidl.common.errors import LatexError
from saidl.common.io import read_json
from saidl.common.paths import templates_dir, tex_dir
from saidl.report.jinja import make_env, render_template
from saidl.report.latex import Tex, escape_tex
from saidl.report.latexmk import Terminated, compile_pdf, last_build_status
from saidl.report.listings import code_listing



# The page-number prefix of each task's report (\saidlpageprefix): the combined PDF includes
# the reports page by page, so their own numbers (CM-3, RL-7) stay true in it.
PAGE_PREFIX = {"coreml": "CM-", "ssm": "SSM-", "multimodal": "MM-", "rl": "RL-", "diffusion": "DF-", "paper": "PI-"}


def environment():
    env = make_env([templates_dir()])
    env.globals["listing"] = code_listing
    return env


def render(task: str, summary_path: Path, out: Path, scale_changes: list[dict] | None = None) -> Path:
    """Render ``templates/<task>/report.tex`` with the context the task's report module builds,
    plus ``scale_changes``: the rehearsal's differences from full (``m.scale_note`` on page 1)."""
    module = importlib.import_module(f"saidl.{task}.report")
    context = module.context(read_json(summary_path))
    context.setdefault("page_prefix", PAGE_PREFIX.get(task, ""))
    # a dotted key may break after each dot (long keys would run out of the page-1 box)
    context.setdefault("scale_changes", [{**c, "key": Tex(escape_tex(c["key"]).replace(".", ".\\allowbreak{}"))}
                                         for c in scale_changes or []])
    return render_template(environment(), f"{task}/report.tex", context, out)


_ANSWERS_END = re.compile(r"\\newlabel\{answers-end\}\{\{[^{}]*\}\{(?P<page>[^{}]*)\}")


def answer_pages(aux: Path, prefix: str) -> str:
    """The pages of a report's answer sheet, ``1-k``, where k is the page of its ``answers-end``
    label in the report's ``.aux`` (``1`` when the report has no answer sheet)."""
    if not aux.exists():
        raise LatexError(f"{aux} is missing: the report's LaTeX build folder is gone; "
                                f"rebuild the task's PDF (snakemake --forcerun <task>_pdf)")
    if last_build_status(aux.parent, aux.stem) not in ("done", None):
        raise LatexError(f"{aux} is from a LaTeX build that did not finish (interrupted or failed); "
                         f"rebuild the task's PDF (snakemake --forcerun <task>_pdf)")
    match = _ANSWERS_END.search(aux.read_text(encoding="utf-8", errors="replace"))
    if match is None:
        return "1"
    page = match.group("page").removeprefix(prefix)
    if not page.isdigit():
        raise LatexError(f"{aux}: the answer sheet ends on page {match.group('page')!r}, which is not "
                         f"{prefix}<number>; does the template set \\saidlpageprefix{{{prefix}}}?")
    return "1" if page == "1" else f"1-{page}"


def report_aux(pdf: Path) -> Path:
    """The ``.aux`` of a task PDF built by ``pdf`` from ``<task dir>/tex/report.tex``."""
    return pdf.parent / "tex" / "build-report" / "report.aux"


def combine(pdfs: list[Path], titles: list[str], scale: str, out: Path) -> Path:
    """One PDF: a title page and contents, every task's answer sheet, then every task's report
    page by page, each page keeping the number (CM-3, RL-7) its report printed on it."""
    tex = out.with_suffix(".tex")
    parts = []
    for title, pdf in zip(titles, pdfs):
        key = pdf.stem
        prefix = PAGE_PREFIX.get(key, "")
        parts.append({"title": title, "key": key, "prefix": prefix,
                      "file": pdf.resolve().relative_to(out.parent.resolve()).as_posix(),
                      "answer_pages": answer_pages(report_aux(pdf), prefix)})
    render_template(environment(), "common/combined.tex", {"scale": scale, "parts": parts}, tex)
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
    try:
        return exit_code(actions[args.cmd])
    except (KeyboardInterrupt, Terminated) as exc:
        target = args.pdf if args.cmd == "pdf" else args.out
        print(f"interrupted: {target} was not written; nothing half-built is kept, so the next run "
              "builds it afresh", file=sys.stderr)
        return exc.code if isinstance(exc, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
