# Core ML: noisy labels and the APL losses. One training job per (noise, eta, loss, seed).
import json
import os
import re
from pathlib import Path

from saidl.coreml.figures import FIGURES as COREML_FIGURES
from saidl.coreml.grid import run_configs, scale_config
from saidl.coreml.tables import TABLES as COREML_TABLES

COREML = f"{RESULTS}/coreml"
COREML_SCALE = scale_config(config["coreml"], SCALE)
COREML_RUNS = run_configs(config["coreml"], SCALE)
COREML_GPU = 1 if COREML_SCALE["device"].startswith("cuda") or (
    COREML_SCALE["device"] == "auto" and SCALE == "full") else 0
COREML_TEMPLATES = sorted(str(p) for p in Path("templates/coreml").glob("*.tex")) + sorted(
    str(p) for p in Path("templates/common").glob("*.tex") if p.name != "combined.tex")
COREML_LISTED = ["src/saidl/coreml/losses.py", "src/saidl/coreml/data.py", "src/saidl/coreml/report.py"]


wildcard_constraints:
    run="|".join(re.escape(r) for r in COREML_RUNS),
    coreml_figure="|".join(COREML_FIGURES),
    coreml_table="|".join(COREML_TABLES),


rule coreml_train:
    """Train one run; writes its JSON atomically (checkpoints in ckpt/ while it runs)."""
    input:
        fakes=rehearsal_assets("cifar10"),
    output:
        f"{COREML}/runs/{{run}}.json",
    params:
        cfg=lambda w: json.dumps(COREML_RUNS[w.run], sort_keys=True),
        ckpt=lambda w: f"{COREML}/ckpt/{w.run}.pt",
    threads: COREML_SCALE["threads"]
    resources:
        gpu=COREML_GPU,
    log:
        f"{LOGS}/coreml/train/{{run}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.coreml.train --config-json {params.cfg:q} --out {output} "
        "--threads {threads} --ckpt {params.ckpt} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule coreml_grid:
    """The grid of run configs, as one JSON: the collect step checks each run against it."""
    output:
        f"{COREML}/grid.json",
    params:
        grid=lambda w: json.dumps(COREML_RUNS, sort_keys=True),
    log:
        f"{LOGS}/coreml/grid.log",
    run:
        from saidl.common.io import write_json

        write_json(output[0], json.loads(params.grid))


rule coreml_collect:
    """All runs -> one small summary (means, stds, curves, realised noise, claims)."""
    input:
        grid=f"{COREML}/grid.json",
        runs=expand(f"{COREML}/runs/{{run}}.json", run=COREML_RUNS),
        code=["src/saidl/coreml/analyze.py", "src/saidl/coreml/losses.py"],  # losses: the gradient probe
    output:
        f"{COREML}/summary.json",
    params:
        runs_dir=lambda w, input: os.path.dirname(input.runs[0]),
    log:
        f"{LOGS}/coreml/collect.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.coreml.analyze --grid-json {input.grid} --runs-dir {params.runs_dir} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule coreml_figure:
    """One figure per job; its own plotting module and the shared style are inputs."""
    input:
        summary=f"{COREML}/summary.json",
        code="src/saidl/coreml/figures/{coreml_figure}.py",
        common=["src/saidl/coreml/figures/_common.py", "src/saidl/report/figstyle.py",
                "src/saidl/report/figure_cli.py"],
    output:
        f"{COREML}/figures/{{coreml_figure}}.pdf",
    log:
        f"{LOGS}/coreml/figure_{{coreml_figure}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.coreml.figures.{wildcards.coreml_figure} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule coreml_table:
    input:
        summary=f"{COREML}/summary.json",
        code=["src/saidl/coreml/tables.py", "src/saidl/report/tables.py"],
    output:
        f"{COREML}/tex/tables/{{coreml_table}}.tex",
    log:
        f"{LOGS}/coreml/table_{{coreml_table}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.coreml.tables {wildcards.coreml_table} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule coreml_tex:
    """Render the report's TeX from the templates and the summary (no training, no plotting)."""
    input:
        summary=f"{COREML}/summary.json",
        templates=COREML_TEMPLATES,
        listed=COREML_LISTED,
    output:
        f"{COREML}/tex/report.tex",
    params:
        changes=lambda w: scale_changes_json("coreml"),
    log:
        f"{LOGS}/coreml/tex.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build render --task coreml --summary {input.summary} "
        "--scale-changes {params.changes:q} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule coreml_pdf:
    input:
        tex=f"{COREML}/tex/report.tex",
        figures=expand(f"{COREML}/figures/{{f}}.pdf", f=COREML_FIGURES),
        tables=expand(f"{COREML}/tex/tables/{{t}}.tex", t=COREML_TABLES),
        style="tex/saidl.sty",
        bib="tex/references.bib",
    output:
        f"{COREML}/coreml.pdf",
    params:
        texinputs=lambda w, output: os.path.dirname(output[0]),
    log:
        f"{LOGS}/coreml/pdf.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build pdf --tex {input.tex} --pdf {output} --texinputs {params.texinputs} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"
