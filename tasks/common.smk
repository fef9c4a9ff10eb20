# The rules every task shares, written once for every task of config/tasks.yaml:
#   <task>_grid -> <task>_collect -> <task>_figure, <task>_table -> <task>_tex -> <task>_pdf
# (results/<scale>/<task>/{grid,summary}.json, figures/<name>.pdf, tex/tables/<name>.tex,
# tex/report.tex, <task>.pdf). What differs between tasks is data: the Chain that
# tasks/<task>/rules.smk puts in CHAINS[<task>] (saidl.common.workflow.Chain). A figure's or a
# table's code inputs are computed: its module and every saidl module that it imports.
#
# Snakemake evaluates a shell command again when the job runs, after this loop has ended: every
# command below is therefore the same for every task, and what differs comes in through params
# (plain values, or functions made by saidl.common.workflow that hold the task's values).
import json
import os

from saidl.common.workflow import arguments, code_inputs, input_dir, lazy, logged, module_inputs, module_name
from saidl.common.workflow import scale_changes_json, template_files, tex_code_inputs, wildcard_choice, wildcard_value

for _task, _chain in CHAINS.items():
    _out = f"{RESULTS}/{_task}"
    _figure, _table = f"{_chain.wildcard}_figure", f"{_chain.wildcard}_table"

    rule:
        """The grid of run configs (and any other design) as JSON: the collect step checks each run against it."""
        name:
            f"{_task}_grid"
        output:
            **{grid: f"{_out}/{grid}.json" for grid in _chain.grids},
        params:
            grids=lazy(json.dumps, _chain.grids, sort_keys=True),
        log:
            f"{LOGS}/{_task}/grid.log",
        run:
            from saidl.common.io import write_json

            for grid, value in json.loads(params.grids).items():
                write_json(output[grid], value)

    rule:
        """All runs -> one small summary (means, intervals, curves, claims)."""
        name:
            f"{_task}_collect"
        input:
            **{grid: f"{_out}/{grid}.json" for grid in _chain.grids},
            runs=expand(f"{_out}/runs/{{r}}.json", r=_chain.runs),
            **_chain.collect_inputs,
            code=code_inputs(f"saidl.{_task}.analyze"),
        output:
            f"{_out}/summary.json",
        params:
            module=f"saidl.{_task}.analyze",
            runs_dir=input_dir("runs"),
            args=arguments(_chain.collect_args),
        log:
            f"{LOGS}/{_task}/collect.log",
        conda:
            SAIDL_ENV
        shell:
            logged("python -m {params.module} --grid-json {input.grid} --runs-dir {params.runs_dir}{params.args} ",
                   "--out {output}")

    rule:
        """One figure per job; its module and every saidl module it imports are inputs."""
        name:
            f"{_task}_figure"
        input:
            summary=f"{_out}/summary.json",
            code=module_inputs(f"saidl.{_task}.figures", _figure),
        output:
            f"{_out}/figures/{{{_figure}}}.pdf",
        params:
            module=module_name(f"saidl.{_task}.figures", _figure),
        log:
            f"{LOGS}/{_task}/figure_{{{_figure}}}.log",
        wildcard_constraints:
            **{_figure: wildcard_choice(_chain.figures)},
        conda:
            SAIDL_ENV
        shell:
            logged("python -m {params.module} --summary {input.summary} --out {output}")

    if _chain.tables:

        rule:
            """One LaTeX table per job; the tables module and every saidl module it imports are inputs."""
            name:
                f"{_task}_table"
            input:
                summary=f"{_out}/summary.json",
                code=code_inputs(f"saidl.{_task}.tables"),
            output:
                f"{_out}/tex/tables/{{{_table}}}.tex",
            params:
                module=f"saidl.{_task}.tables",
                table=wildcard_value(_table),
            log:
                f"{LOGS}/{_task}/table_{{{_table}}}.log",
            wildcard_constraints:
                **{_table: wildcard_choice(_chain.tables)},
            conda:
                SAIDL_ENV
            shell:
                logged("python -m {params.module} {params.table} --summary {input.summary} --out {output}")

    rule:
        """Render the report's TeX from the templates and the summary (no training, no plotting)."""
        name:
            f"{_task}_tex"
        input:
            summary=f"{_out}/summary.json",
            templates=template_files(_task),
            code=tex_code_inputs(_task),  # the context module and the code the report prints
        output:
            f"{_out}/tex/report.tex",
        params:
            task=_task,
            changes=lazy(scale_changes_json, config, SCALE, _task, *_chain.changes),
        log:
            f"{LOGS}/{_task}/tex.log",
        conda:
            SAIDL_ENV
        shell:
            logged("python -m saidl.report.build render --task {params.task} --summary {input.summary} ",
                   "--scale-changes {params.changes:q} --out {output}")

    rule:
        """The task's PDF: the rendered TeX with its figures and tables, by latexmk."""
        name:
            f"{_task}_pdf"
        input:
            tex=f"{_out}/tex/report.tex",
            figures=expand(f"{_out}/figures/{{f}}.pdf", f=_chain.figures),
            tables=expand(f"{_out}/tex/tables/{{t}}.tex", t=_chain.tables),
            **_chain.pdf_inputs,
            style="tex/saidl.sty",
            bib="tex/references.bib",
        output:
            f"{_out}/{_task}.pdf",
        params:
            texinputs=lambda w, output: os.path.dirname(output[0]),
        log:
            f"{LOGS}/{_task}/pdf.log",
        conda:
            SAIDL_ENV
        shell:
            logged("python -m saidl.report.build pdf --tex {input.tex} --pdf {output} --texinputs {params.texinputs}")
