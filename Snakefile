# SAiDL Spring 2025 induction assignment: every task's runs, figures, tables and LaTeX report.
#   snakemake --cores 4 --resources gpu=1 report          # demo scale (default)
#   snakemake --cores 4 --resources gpu=1 report --config scale=full
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

# This checkout's package, so that a copy of the workflow runs its own code and templates.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from saidl.common.config import check_config_file, rehearsal_block, validate as validate_clear, with_rehearsal
from saidl.common.errors import ConfigError
from saidl.common.workflow import Rehearsal, check_selected, load_tasks, logged
from saidl.common.workflow_lock import explain_locks

# A lock left by a killed run: the failure names who holds it, or the one command that removes it
# (spelled for the user's own PATH, so before the PATH below changes).
if workflow.is_main_process:
    explain_locks(os.getcwd())

# Jobs run the Python of this Snakemake (the project's venv) unless --use-conda activates an env,
# and import this checkout's package.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
os.environ["PYTHONPATH"] = os.path.join(workflow.basedir, "src") + os.pathsep + os.environ.get("PYTHONPATH", "")

envvars:  # what every job needs, passed on to cluster jobs too
    "PATH",
    "PYTHONPATH",

# The one conda environment of every job (`--use-conda`).
SAIDL_ENV = os.path.join(workflow.basedir, "envs", "saidl.yaml")

# The tasks (name -> report title, in the combined report's order): the one list, config/tasks.yaml.
# A task is its folders: tasks/<task>/ (config.yaml, schema.yaml, rules.smk), templates/<task>/,
# src/saidl/<task>/.
try:
    TASKS = load_tasks(workflow.basedir)
except ConfigError as exc:
    sys.exit(f"config error: {exc}")

# Every config file read strictly first (Snakemake's reader names no file or line and keeps the last
# of two equal keys): a syntax error or a duplicate key is one line, `file:line: what is wrong`.
CONFIG_FILES = ["config/config.yaml"] + [f"tasks/{t}/config.yaml" for t in TASKS]
try:
    for _f in CONFIG_FILES + [str(p) for p in workflow.overwrite_configfiles]:
        if os.path.exists(_f):  # a missing one: Snakemake says so
            check_config_file(_f)
except ConfigError as exc:
    sys.exit(f"config error: {exc}")

for _f in CONFIG_FILES:
    configfile: _f

config.setdefault("tasks", list(TASKS))  # the reports `report` builds: every task unless chosen

try:
    validate_clear({k: config[k] for k in ("scale", "tasks", "fakes_dir") if k in config}, "config/schema.yaml",
                   "config/config.yaml")
    check_selected(config["tasks"], TASKS)
    for _task in TASKS:
        validate_clear({_task: with_rehearsal(config.get(_task), _task)}, f"tasks/{_task}/schema.yaml",
                       f"tasks/{_task}/config.yaml")
    if config.get("scale") == "rehearsal":
        for _task in config["tasks"]:
            rehearsal_block(config[_task], _task)
except ConfigError as exc:
    sys.exit(f"config error: {exc}")
validate(config, "config/schema.yaml")

SCALE = config["scale"]

# Pre-flight of a full run: every dataset and weight its tasks need, checked (cheaply) before a job,
# and a GPU hour, is spent; the same list as `make check-assets`. Once, in the main process.
if SCALE == "full" and workflow.is_main_process and os.environ.get("SAIDL_SKIP_ASSETS") != "1":
    from saidl.common.assets import require_assets
    from saidl.common.errors import DataError

    try:
        require_assets(config, SCALE, config["tasks"])
    except (ConfigError, DataError) as exc:
        sys.exit(f"asset check failed:\n{exc}")

RESULTS = f"results/{SCALE}"
LOGS = f"logs/{SCALE}"
FAKES = config["fakes_dir"]


# The fake assets (python -m saidl.fakes) a job reads at the rehearsal scale; none elsewhere.
rehearsal_assets = Rehearsal(FAKES, SCALE).assets


rule fake_asset:
    """One format-exact local fake of a full-scale dataset or hub snapshot, for the rehearsal."""
    output:
        f"{FAKES}/.complete/{{asset}}.json",
    params:
        root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
    log:
        f"{LOGS}/fakes/{{asset}}.log",
    conda:
        SAIDL_ENV
    shell:
        logged("python -m saidl.fakes {wildcards.asset} --root {params.root} --stamp {output}")


# Each task's own rules (training, special steps), which put the task's differences in the shared
# rules into CHAINS[task]; then the shared rules (grid, collect, figure, table, tex, pdf) of every
# task. A config mistake found there (two entries with one run id, an undefined name) is one line.
CHAINS = {}
include: "tasks/training.smk"  # train_rules(): every task's training rules, one run or a pack per job
try:
    for _task in TASKS:
        include: f"tasks/{_task}/rules.smk"
    include: "tasks/common.smk"
except ConfigError as exc:
    sys.exit(f"config error: {exc}")

TASK_PDFS = {task: f"{RESULTS}/{task}/{task}.pdf" for task in config["tasks"]}


rule report:
    """Every task's PDF and the combined PDF."""
    default_target: True
    input:
        list(TASK_PDFS.values()),
        f"{RESULTS}/report.pdf",


rule all:
    input:
        rules.report.input,


rule combined_pdf:
    input:
        pdfs=list(TASK_PDFS.values()),
        template="templates/common/combined.tex",
        style="tex/saidl.sty",
    output:
        f"{RESULTS}/report.pdf",
    params:  # functions: Snakemake expands {...} in plain string params, never in a function's value
        titles=lambda w: [TASKS[t] for t in TASK_PDFS],
        scale=lambda w: SCALE,
    log:
        f"{LOGS}/combined_pdf.log",
    conda:
        SAIDL_ENV
    shell:
        logged("python -m saidl.report.build combine --pdfs {input.pdfs} --titles {params.titles:q} ",
               "--scale {params.scale} --out {output}")
