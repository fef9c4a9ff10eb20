"""Cost of the report pipeline: a template-only rebuild against latexmk alone, and a no-op run.

(a) A template-only rebuild of the Core ML PDF. Snakemake 9 does not rerun a job whose newer
    input still has the checksum it recorded, so touching ``templates/coreml/report.tex`` alone
    rebuilds nothing (shown, timed); the rebuild that a template edit causes is forced with
    ``--forcerun coreml_tex`` (render, then the PDF, then the combined PDF). latexmk compares file
    contents too, so on an unchanged ``report.tex`` it finds nothing to do; for a like-for-like
    comparison each such compile starts from a clean build folder
    (``results/<scale>/coreml/tex/build-report``), and "latexmk alone" is the very command and
    environment of the pipeline's pdf step. ``snakemake report`` also compiles the combined PDF,
    a second document, so ``snakemake .../coreml.pdf`` is the closer comparison. The forced
    rebuild with the build folders kept (latexmk: nothing changed) shows the pipeline's overhead.
(b) ``snakemake report`` when everything is up to date.

Each time is the best of ``--repeat``. The template's modification time is restored afterwards
unless someone edited the file meanwhile. Needs a built scale (built here if its PDF is missing).

Usage: ``python benchmarks/bench_report.py [--scale smoke] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from saidl.report.latexmk import _latex_env, _latexmk_command

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates/coreml/report.tex"
RATIO_TARGET, NOOP_TARGET = 1.3, 3.0
FORCE = ("--forcerun", "coreml_tex")  # what a template edit triggers


def snakemake(target: str, scale: str, *extra: str) -> list[str]:
    """The Snakemake command line; the target comes first (``--resources`` would swallow it)."""
    exe = Path(sys.executable).with_name("snakemake")
    return [str(exe if exe.exists() else "snakemake"), target, "--cores", "2", "--config",
            f"scale={scale}", *extra]


def run(cmd: list[str], expect: str | None = None, cwd: Path = ROOT, env: dict | None = None) -> float:
    """Run ``cmd``; its wall time. Exits with its output if it fails or does not print ``expect``."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or (expect is not None and expect not in output):
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}, expected {expect!r}):\n{output[-2000:]}")
    return elapsed


def best_of(repeat: int, prepare, cmd: list[str], expect: str | None = None, **kw) -> float:
    """The shortest of ``repeat`` runs of ``cmd``, each after calling ``prepare()``."""
    times = []
    for _ in range(repeat):
        prepare()
        times.append(run(cmd, expect, **kw))
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    scale, rep = args.scale, args.repeat
    coreml = ROOT / "results" / scale / "coreml"
    tex, build = coreml / "tex/report.tex", coreml / "tex/build-report"
    pdf_target = f"results/{scale}/coreml/coreml.pdf"
    if not (coreml / "coreml.pdf").exists():
        print(f"building scale {scale} first ...", flush=True)
        run(snakemake("report", scale))
    run(snakemake("report", scale))  # start up to date

    original = TEMPLATE.stat()
    touched: list[float] = []

    def clean() -> None:
        shutil.rmtree(build, ignore_errors=True)

    def touch() -> None:
        os.utime(TEMPLATE)
        touched.append(TEMPLATE.stat().st_mtime)

    latexmk = _latexmk_command(tex, build)
    env = _latex_env([ROOT / "tex", coreml], tex.parent)
    pipeline_pdf = [sys.executable, "-m", "saidl.report.build", "pdf", "--tex", str(tex),
                    "--pdf", "/tmp/bench_report.pdf", "--texinputs", str(coreml)]
    try:
        t = {
            "latexmk": best_of(rep, clean, latexmk, cwd=tex.parent, env=env),
            "build pdf": best_of(rep, clean, pipeline_pdf),
            "smk pdf": best_of(rep, clean, snakemake(pdf_target, scale, *FORCE), "rule coreml_pdf"),
            "smk report": best_of(rep, clean, snakemake("report", scale, *FORCE), "rule combined_pdf"),
            "smk warm": best_of(rep, lambda: None, snakemake("report", scale, *FORCE), "rule coreml_pdf"),
            "touch": best_of(rep, touch, snakemake("report", scale), "Nothing to be done"),
            "noop": best_of(rep, lambda: None, snakemake("report", scale), "Nothing to be done"),
        }
    finally:
        if touched and TEMPLATE.stat().st_mtime == touched[-1]:  # nobody edited it meanwhile
            os.utime(TEMPLATE, ns=(original.st_atime_ns, original.st_mtime_ns))
    base = t["latexmk"]
    rows = [
        ("(a) template-only rebuild, clean Core ML build folder", None, None),
        ("latexmk alone (the pdf step's command)", t["latexmk"], None),
        ("python -m saidl.report.build pdf", t["build pdf"], base),
        (f"snakemake {pdf_target} -R coreml_tex", t["smk pdf"], base),
        ("snakemake report -R coreml_tex (+ combined PDF)", t["smk report"], base),
        ("    build folders kept (latexmk: nothing changed)", None, None),
        ("snakemake report -R coreml_tex", t["smk warm"], None),
        ("    template touched only (same checksum: no rerun)", None, None),
        ("touch + snakemake report", t["touch"], None),
        ("(b) nothing to do", None, None),
        ("snakemake report", t["noop"], None),
    ]
    print(f"scale {scale}, best of {rep}; ratios against latexmk alone\n")
    print(f"{'':<58}{'seconds':>8}{'ratio':>8}")
    for label, secs, ref in rows:
        cols = "" if secs is None else f"{secs:>8.2f}" + (f"{secs / ref:>7.2f}x" if ref else "")
        print(f"{label:<58}{cols}")
    ratio = t["smk pdf"] / base
    print(f"\npipeline/latexmk (coreml.pdf): {ratio:.2f}x, target <= {RATIO_TARGET}x: "
          f"{'met' if ratio <= RATIO_TARGET else 'NOT met'}")
    print(f"no-op snakemake report: {t['noop']:.2f} s, target < {NOOP_TARGET:g} s: "
          f"{'met' if t['noop'] < NOOP_TARGET else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
