# Paper implementation: Active Negative Loss (Ye et al., NeurIPS 2023) examined against APL.
# One training job per run of tasks/paper/config.yaml; the runs are Core ML runs (same data,
# noise, models and trainer: saidl.coreml.train), the losses live in saidl.coreml.losses.
from saidl.coreml.grid import scale_config as coreml_scale_config
from saidl.paper.figures import FIGURES as PAPER_FIGURES
from saidl.paper.grid import design as paper_design
from saidl.paper.grid import run_configs as paper_run_configs
from saidl.paper.tables import TABLES as PAPER_TABLES

PAPER = f"{RESULTS}/paper"
PAPER_RUNS = paper_run_configs(config["paper"], config["coreml"], SCALE)
PAPER_DESIGN = paper_design(config["paper"], config["coreml"], SCALE)
PAPER_SCALE = coreml_scale_config(config["coreml"], SCALE)  # threads and device of the Core ML block
PAPER_GPU = 1 if PAPER_SCALE["device"].startswith("cuda") or (
    PAPER_SCALE["device"] == "auto" and SCALE == "full") else 0
PAPER_TEMPLATES = sorted(str(p) for p in Path("templates/paper").glob("*.tex")) + sorted(
    str(p) for p in Path("templates/common").glob("*.tex") if p.name != "combined.tex")
PAPER_LISTED = ["src/saidl/coreml/losses.py", "src/saidl/paper/report.py"]


wildcard_constraints:
    paper_run="|".join(re.escape(r) for r in PAPER_RUNS),
    paper_figure="|".join(PAPER_FIGURES),
    paper_table="|".join(PAPER_TABLES),


rule paper_train:
    """Train one run with the Core ML trainer; writes its JSON atomically (checkpoints in ckpt/)."""
    input:
        fakes=rehearsal_assets("cifar10"),
    output:
        f"{PAPER}/runs/{{paper_run}}.json",
    params:
        cfg=lambda w: json.dumps(PAPER_RUNS[w.paper_run], sort_keys=True),
        ckpt=lambda w: f"{PAPER}/ckpt/{w.paper_run}.pt",
    threads: PAPER_SCALE["threads"]
    resources:
        gpu=lambda w: PAPER_GPU if PAPER_RUNS[w.paper_run]["device"] != "cpu" else 0,
    log:
        f"{LOGS}/paper/train/{{paper_run}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.coreml.train --config-json {params.cfg:q} --out {output} "
        "--threads {threads} --ckpt {params.ckpt} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule paper_grid:
    """The grid of run configs and the design (groups, sensitivity points), as JSON."""
    output:
        grid=f"{PAPER}/grid.json",
        design=f"{PAPER}/design.json",
    params:
        grid=lambda w: json.dumps(PAPER_RUNS, sort_keys=True),
        design=lambda w: json.dumps(PAPER_DESIGN, sort_keys=True),
    log:
        f"{LOGS}/paper/grid.log",
    run:
        from saidl.common.io import write_json

        write_json(output.grid, json.loads(params.grid))
        write_json(output.design, json.loads(params.design))


rule paper_collect:
    """All runs -> one small summary (cells, curves, sensitivity, gradient profiles, claims)."""
    input:
        grid=f"{PAPER}/grid.json",
        design=f"{PAPER}/design.json",
        runs=expand(f"{PAPER}/runs/{{r}}.json", r=PAPER_RUNS),
        code=["src/saidl/paper/analyze.py", "src/saidl/coreml/losses.py"],
    output:
        f"{PAPER}/summary.json",
    params:
        runs_dir=lambda w, input: os.path.dirname(input.runs[0]),
    log:
        f"{LOGS}/paper/collect.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.paper.analyze --grid-json {input.grid} --runs-dir {params.runs_dir} "
        "--design {input.design} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule paper_figure:
    """One figure per job; its own plotting module and the shared style are inputs."""
    input:
        summary=f"{PAPER}/summary.json",
        code="src/saidl/paper/figures/{paper_figure}.py",
        common=["src/saidl/paper/figures/_common.py", "src/saidl/report/figstyle.py",
                "src/saidl/report/figure_cli.py"],
    output:
        f"{PAPER}/figures/{{paper_figure}}.pdf",
    log:
        f"{LOGS}/paper/figure_{{paper_figure}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.paper.figures.{wildcards.paper_figure} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule paper_table:
    input:
        summary=f"{PAPER}/summary.json",
        code=["src/saidl/paper/tables.py", "src/saidl/report/tables.py"],
    output:
        f"{PAPER}/tex/tables/{{paper_table}}.tex",
    log:
        f"{LOGS}/paper/table_{{paper_table}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.paper.tables {wildcards.paper_table} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule paper_tex:
    """Render the report's TeX from the templates and the summary (no training, no plotting)."""
    input:
        summary=f"{PAPER}/summary.json",
        templates=PAPER_TEMPLATES,
        listed=PAPER_LISTED,
    output:
        f"{PAPER}/tex/report.tex",
    params:
        changes=lambda w: scale_changes_json("paper", "coreml"),
    log:
        f"{LOGS}/paper/tex.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build render --task paper --summary {input.summary} "
        "--scale-changes {params.changes:q} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule paper_pdf:
    input:
        tex=f"{PAPER}/tex/report.tex",
        figures=expand(f"{PAPER}/figures/{{f}}.pdf", f=PAPER_FIGURES),
        tables=expand(f"{PAPER}/tex/tables/{{t}}.tex", t=PAPER_TABLES),
        style="tex/saidl.sty",
        bib="tex/references.bib",
    output:
        f"{PAPER}/paper.pdf",
    params:
        texinputs=lambda w, output: os.path.dirname(output[0]),
    log:
        f"{LOGS}/paper/pdf.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build pdf --tex {input.tex} --pdf {output} --texinputs {params.texinputs} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"
