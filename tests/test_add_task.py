"""A seventh task is its folders and one line in config/tasks.yaml: nothing else in the Snakefile.

In a copy of the workflow, a tiny task (a grid of two trivial runs, a collect step, one figure, one
template) is added the way the README tells, and its smoke PDF is built by Snakemake through the
shared rules of tasks/common.smk (grid, collect, figure, tex, pdf).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import HANG_TIMEOUT, REPO, needs_latex, pdf_text

TINY_FILES = {
    "tasks/tiny/config.yaml": """\
        tiny:
          scales:
            smoke: {values: [17, 25]}
            demo: {values: [17, 25]}
            full: {values: [17, 25]}
        """,
    "tasks/tiny/schema.yaml": """\
        $schema: "https://json-schema.org/draft/2020-12/schema"
        type: object
        properties:
          tiny:
            type: object
            required: [scales]
        """,
    # the task's own rule: one job per run; the Chain tells the shared rules what the task has
    "tasks/tiny/rules.smk": """\
        import json

        from saidl.common.workflow import Chain, logged

        TINY = f"{RESULTS}/tiny"
        TINY_RUNS = {f"v{v}": {"value": v} for v in config["tiny"]["scales"][SCALE]["values"]}

        CHAINS["tiny"] = Chain(wildcard="tiny", grids={"grid": TINY_RUNS}, runs=list(TINY_RUNS), figures=("bars",))


        rule tiny_train:
            output:
                f"{TINY}/runs/{{tiny_run}}.json",
            params:
                cfg=lambda w: json.dumps(TINY_RUNS[w.tiny_run], sort_keys=True),
            log:
                f"{LOGS}/tiny/train/{{tiny_run}}.log",
            conda:
                SAIDL_ENV
            shell:
                logged("python -m saidl.tiny.train --config-json {params.cfg:q} --out {output}")
        """,
    "src/saidl/tiny/__init__.py": '"""A tiny task: the test that adds a task."""\n',
    "src/saidl/tiny/train.py": """\
        import argparse
        import json

        ap = argparse.ArgumentParser()
        ap.add_argument("--config-json", required=True)
        ap.add_argument("--out", required=True)
        args = ap.parse_args()
        value = json.loads(args.config_json)["value"]
        with open(args.out, "w") as f:
            json.dump({"value": value, "score": value * value + 0.5}, f)
        """,
    "src/saidl/tiny/analyze.py": """\
        import argparse
        import json
        from pathlib import Path

        ap = argparse.ArgumentParser()
        for name in ("--grid-json", "--runs-dir", "--out"):
            ap.add_argument(name, required=True)
        args = ap.parse_args()
        grid = json.loads(Path(args.grid_json).read_text())
        runs = {r: json.loads((Path(args.runs_dir) / f"{r}.json").read_text()) for r in grid}
        Path(args.out).write_text(json.dumps({"runs": runs, "total": sum(r["score"] for r in runs.values())}))
        """,
    "src/saidl/tiny/figures/__init__.py": 'FIGURES = ("bars",)\n',
    "src/saidl/tiny/figures/_common.py": 'COLOUR = "tab:blue"\n',
    "src/saidl/tiny/figures/bars.py": """\
        import matplotlib.pyplot as plt

        from saidl.report.figure_cli import run
        from saidl.tiny.figures._common import COLOUR


        def plot(summary):
            fig, ax = plt.subplots(figsize=(3, 2))
            runs = summary["runs"]
            ax.bar(list(runs), [r["score"] for r in runs.values()], color=COLOUR)
            return fig


        if __name__ == "__main__":
            run(plot)
        """,
    "src/saidl/tiny/report.py": """\
        def context(summary):
            return {"total": f"{summary['total']:.1f}", "n_runs": len(summary["runs"])}
        """,
    "templates/tiny/report.tex": r"""
        \documentclass[11pt]{article}
        \usepackage{saidl}
        \begin{document}
        Tiny task: \VAR{ n_runs } runs, total score \VAR{ total }.

        \includegraphics[width=0.5\linewidth]{figures/bars.pdf}
        \end{document}
        """,
}


def add_tiny_task(root):
    for rel, text in TINY_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    with (root / "config/tasks.yaml").open("a") as f:
        f.write('tiny: "Tiny: two trivial runs"\n')


def snakemake(root, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", *args, "--config", "scale=smoke", "tasks=[tiny]"],
                          cwd=root, capture_output=True, text=True, timeout=HANG_TIMEOUT)


@needs_latex
def test_a_new_task_is_its_folders_and_one_line(workflow_copy):
    snakefile = (workflow_copy / "Snakefile").read_text()
    add_tiny_task(workflow_copy)
    assert (workflow_copy / "Snakefile").read_text() == snakefile

    # the shared rules exist for the new task, under the names every task's rules have
    listed = snakemake(workflow_copy, "--list-rules")
    assert listed.returncode == 0, listed.stderr[-3000:]
    rules = set(listed.stdout.split())
    assert {"tiny_train", "tiny_grid", "tiny_collect", "tiny_figure", "tiny_tex", "tiny_pdf"} <= rules
    assert "tiny_table" not in rules  # a task without tables gets no table rule

    pdf = workflow_copy / "results/smoke/tiny/tiny.pdf"
    proc = snakemake(workflow_copy, str(pdf.relative_to(workflow_copy)), "--cores", "2")
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert pdf.is_file()
    assert (workflow_copy / "results/smoke/tiny/figures/bars.pdf").is_file()
    # 17^2 + 0.5 + 25^2 + 0.5: both runs went through train, grid, collect and the template
    assert "2runs,totalscore915.0" in pdf_text(pdf)

    # the figure's inputs are its module and what it imports: editing _common reruns it
    (workflow_copy / "src/saidl/tiny/figures/_common.py").write_text('COLOUR = "tab:red"\n')
    dry = snakemake(workflow_copy, str(pdf.relative_to(workflow_copy)), "-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "tiny_figure" in dry.stdout + dry.stderr and "tiny_train" not in dry.stdout + dry.stderr


def test_a_figure_rule_reads_every_saidl_module_its_figure_imports(monkeypatch):
    monkeypatch.chdir(REPO)  # the rules' paths are relative to the workflow's folder
    from saidl.common.workflow import code_inputs, listed_modules, load_tasks, template_files

    with_helper = code_inputs("saidl.multimodal.figures.curves")
    assert {"src/saidl/multimodal/figures/curves.py", "src/saidl/multimodal/figures/ablation.py",
            "src/saidl/report/figstyle.py", "src/saidl/report/figure_cli.py"} <= set(with_helper)
    assert all(p.startswith("src/saidl/") for p in with_helper)
    assert list(load_tasks()) == ["coreml", "ssm", "rl", "diffusion", "paper", "multimodal"]
    assert "saidl.coreml.losses" in listed_modules(template_files("paper"))
