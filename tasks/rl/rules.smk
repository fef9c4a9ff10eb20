# Reinforcement learning: TD3 (+PER, n-step) on Hopper, noisy nets, robustness, SALE.
# One job per (variant, seed): training, then its attack evaluations and embedding analysis.
import json

from saidl.rl.figures import FIGURES as RL_FIGURES
from saidl.rl.grid import run_configs as rl_run_configs
from saidl.rl.grid import scale_config as rl_scale_config

RL = f"{RESULTS}/rl"
RL_SCALE = rl_scale_config(config["rl"], SCALE)
RL_RUNS = rl_run_configs(config["rl"], SCALE)
RL_GPU = 1 if RL_SCALE["device"].startswith("cuda") or (RL_SCALE["device"] == "auto" and SCALE == "full") else 0
RL_TEMPLATES = sorted(str(p) for p in Path("templates/rl").glob("*.tex")) + sorted(
    str(p) for p in Path("templates/common").glob("*.tex") if p.name != "combined.tex")
RL_LISTED = ["src/saidl/rl/buffer.py", "src/saidl/rl/td3.py", "src/saidl/rl/networks.py",
             "src/saidl/rl/noise.py", "src/saidl/rl/sale.py", "src/saidl/rl/attacks.py", "src/saidl/rl/report.py"]


wildcard_constraints:
    rl_run="|".join(re.escape(r) for r in RL_RUNS),
    rl_figure="|".join(RL_FIGURES),


rule rl_train:
    """Train one variant with one seed, then evaluate it under attack; writes its JSON atomically."""
    output:
        f"{RL}/runs/{{rl_run}}.json",
    params:
        cfg=lambda w: json.dumps(RL_RUNS[w.rl_run], sort_keys=True),
        ckpt=lambda w: f"{RL}/ckpt/{w.rl_run}.pt",
    threads: RL_SCALE["threads"]
    resources:
        gpu=RL_GPU,
    log:
        f"{LOGS}/rl/train/{{rl_run}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "OMP_NUM_THREADS={threads} python -m saidl.rl.train --config-json {params.cfg:q} --out {output} "
        "--threads {threads} --ckpt {params.ckpt} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule rl_grid:
    output:
        f"{RL}/grid.json",
    params:
        grid=lambda w: json.dumps(RL_RUNS, sort_keys=True),
    log:
        f"{LOGS}/rl/grid.log",
    run:
        from saidl.common.io import write_json

        write_json(output[0], json.loads(params.grid))


rule rl_collect:
    input:
        grid=f"{RL}/grid.json",
        runs=expand(f"{RL}/runs/{{r}}.json", r=RL_RUNS),
        code="src/saidl/rl/analyze.py",
    output:
        f"{RL}/summary.json",
    params:
        runs_dir=lambda w, input: os.path.dirname(input.runs[0]),
    log:
        f"{LOGS}/rl/collect.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.rl.analyze --grid-json {input.grid} --runs-dir {params.runs_dir} --out {output} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule rl_figure:
    input:
        summary=f"{RL}/summary.json",
        code="src/saidl/rl/figures/{rl_figure}.py",
        common=["src/saidl/rl/figures/_common.py", "src/saidl/report/figstyle.py", "src/saidl/report/figure_cli.py"],
    output:
        f"{RL}/figures/{{rl_figure}}.pdf",
    log:
        f"{LOGS}/rl/figure_{{rl_figure}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.rl.figures.{wildcards.rl_figure} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule rl_tex:
    input:
        summary=f"{RL}/summary.json",
        templates=RL_TEMPLATES,
        listed=RL_LISTED,
    output:
        f"{RL}/tex/report.tex",
    params:
        changes=lambda w: scale_changes_json("rl"),
    log:
        f"{LOGS}/rl/tex.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build render --task rl --summary {input.summary} "
        "--scale-changes {params.changes:q} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule rl_pdf:
    input:
        tex=f"{RL}/tex/report.tex",
        figures=expand(f"{RL}/figures/{{f}}.pdf", f=RL_FIGURES),
        style="tex/saidl.sty",
        bib="tex/references.bib",
    output:
        f"{RL}/rl.pdf",
    params:
        texinputs=lambda w, output: os.path.dirname(output[0]),
    log:
        f"{LOGS}/rl/pdf.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build pdf --tex {input.tex} --pdf {output} --texinputs {params.texinputs} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"
