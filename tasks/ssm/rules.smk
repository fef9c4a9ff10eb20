# State-space models: S4 and S4D with two discretisations, and a NumPy-only S4D.
# One training job per (model, seed); two analyses that need no training.
import json

from saidl.ssm.figures import FIGURES as SSM_FIGURES
from saidl.ssm.grid import run_configs as ssm_run_configs
from saidl.ssm.grid import scale_config as ssm_scale_config

SSM = f"{RESULTS}/ssm"
SSM_SCALE = ssm_scale_config(config["ssm"], SCALE)
SSM_RUNS = ssm_run_configs(config["ssm"], SCALE)
SSM_GPU = 1 if SSM_SCALE["device"].startswith("cuda") or (SSM_SCALE["device"] == "auto" and SCALE == "full") else 0
SSM_ANALYSIS_CFG = json.dumps({k: SSM_SCALE[k] for k in (
    "timing_lengths", "timing_state", "timing_channels", "timing_repeat", "timing_batch", "dataset", "batch_size", "d_model",
    "n_layers", "d_state") if k in SSM_SCALE})
SSM_TEMPLATES = sorted(str(p) for p in Path("templates/ssm").glob("*.tex")) + sorted(
    str(p) for p in Path("templates/common").glob("*.tex") if p.name != "combined.tex")
SSM_LISTED = ["src/saidl/ssm/kernels.py", "src/saidl/ssm/models.py", "src/saidl/ssm/numpy_s4d.py",
              "src/saidl/ssm/report.py"]


wildcard_constraints:
    ssm_run="|".join(re.escape(r) for r in SSM_RUNS),
    ssm_figure="|".join(SSM_FIGURES),
    ssm_analysis="discretisation|timing",


rule ssm_train:
    """Train one SSM run; writes its JSON atomically (checkpoint in ckpt/ while it runs)."""
    input:
        fakes=rehearsal_assets("cifar10"),
    output:
        f"{SSM}/runs/{{ssm_run}}.json",
    params:
        cfg=lambda w: json.dumps(SSM_RUNS[w.ssm_run], sort_keys=True),
        ckpt=lambda w: f"{SSM}/ckpt/{w.ssm_run}.pt",
    threads: SSM_SCALE["threads"]
    resources:
        gpu=lambda w: SSM_GPU if SSM_RUNS[w.ssm_run]["backend"] == "torch" else 0,
    log:
        f"{LOGS}/ssm/train/{{ssm_run}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
        "python -m saidl.ssm.train --config-json {params.cfg:q} --out {output} "
        "--threads {threads} --ckpt {params.ckpt} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule ssm_analysis:
    """Discretisation study or kernel timing (no training)."""
    output:
        f"{SSM}/{{ssm_analysis}}.json",
    params:
        cfg=lambda w: SSM_ANALYSIS_CFG,
    input:
        "src/saidl/ssm/analysis.py",
        "src/saidl/ssm/kernels.py",
        "src/saidl/ssm/numpy_s4d.py",
    log:
        f"{LOGS}/ssm/{{ssm_analysis}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "
        "python -m saidl.ssm.analysis {wildcards.ssm_analysis} --config-json {params.cfg:q} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule ssm_grid:
    output:
        f"{SSM}/grid.json",
    params:
        grid=lambda w: json.dumps(SSM_RUNS, sort_keys=True),
    log:
        f"{LOGS}/ssm/grid.log",
    run:
        from saidl.common.io import write_json

        write_json(output[0], json.loads(params.grid))


rule ssm_collect:
    input:
        grid=f"{SSM}/grid.json",
        runs=expand(f"{SSM}/runs/{{r}}.json", r=SSM_RUNS),
        discretisation=f"{SSM}/discretisation.json",
        timing=f"{SSM}/timing.json",
        code="src/saidl/ssm/analyze.py",
    output:
        f"{SSM}/summary.json",
    params:
        runs_dir=lambda w, input: os.path.dirname(input.runs[0]),
    log:
        f"{LOGS}/ssm/collect.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.ssm.analyze --grid-json {input.grid} --runs-dir {params.runs_dir} "
        "--discretisation {input.discretisation} --timing {input.timing} --out {output} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule ssm_figure:
    input:
        summary=f"{SSM}/summary.json",
        code="src/saidl/ssm/figures/{ssm_figure}.py",
        common=["src/saidl/report/figstyle.py", "src/saidl/report/figure_cli.py"],
    output:
        f"{SSM}/figures/{{ssm_figure}}.pdf",
    log:
        f"{LOGS}/ssm/figure_{{ssm_figure}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.ssm.figures.{wildcards.ssm_figure} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule ssm_tex:
    input:
        summary=f"{SSM}/summary.json",
        templates=SSM_TEMPLATES,
        listed=SSM_LISTED,
    output:
        f"{SSM}/tex/report.tex",
    params:
        changes=lambda w: scale_changes_json("ssm"),
    log:
        f"{LOGS}/ssm/tex.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build render --task ssm --summary {input.summary} "
        "--scale-changes {params.changes:q} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule ssm_pdf:
    input:
        tex=f"{SSM}/tex/report.tex",
        figures=expand(f"{SSM}/figures/{{f}}.pdf", f=SSM_FIGURES),
        style="tex/saidl.sty",
        bib="tex/references.bib",
    output:
        f"{SSM}/ssm.pdf",
    params:
        texinputs=lambda w, output: os.path.dirname(output[0]),
    log:
        f"{LOGS}/ssm/pdf.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build pdf --tex {input.tex} --pdf {output} --texinputs {params.texinputs} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"
