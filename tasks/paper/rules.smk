# Paper implementation: Active Negative Loss (Ye et al., NeurIPS 2023) examined against APL.
# One training job per run of tasks/paper/config.yaml; the runs are Core ML runs (same data,
# noise, models and trainer: saidl.coreml.train), the losses live in saidl.coreml.losses. The
# shared rules (tasks/common.smk) collect, draw, tabulate and typeset them.
#
# Shared runs: a paper run that trains exactly as a Core ML run (saidl.paper.grid.run_identity:
# the trainer and the config without its labels) is not trained here. Its file is the Core ML
# run's JSON, made by coreml_train (every task's rules are read, so also when only the paper is
# selected); the paper collect reads it from there and labels it as the paper run.
from saidl.common.workflow import Chain, gpus
from saidl.coreml.grid import run_configs as coreml_run_configs
from saidl.coreml.grid import pack_key
from saidl.coreml.grid import scale_config as coreml_scale_config
from saidl.paper.figures import FIGURES as PAPER_FIGURES
from saidl.paper.grid import design as paper_design
from saidl.paper.grid import run_configs as paper_run_configs
from saidl.paper.grid import shared_runs
from saidl.paper.tables import TABLES as PAPER_TABLES

PAPER = f"{RESULTS}/paper"
PAPER_RUNS = paper_run_configs(config["paper"], config["coreml"], SCALE)
PAPER_DESIGN = paper_design(config["paper"], config["coreml"], SCALE)
PAPER_SCALE = coreml_scale_config(config["coreml"], SCALE)  # threads and device of the Core ML block
PAPER_GPU = gpus(PAPER_SCALE["device"], SCALE)
# paper run id -> the Core ML run JSON that is its file (same run identity); the rest train here
PAPER_SHARED = {rid: f"{RESULTS}/coreml/runs/{cid}.json"
                for rid, cid in shared_runs(PAPER_RUNS, coreml_run_configs(config["coreml"], SCALE)).items()}
PAPER_OWN = [rid for rid in PAPER_RUNS if rid not in PAPER_SHARED]

# The grid step also writes the design (groups, sensitivity points) and the shared runs' files,
# which collect reads.
CHAINS["paper"] = Chain(wildcard="paper", grids={"grid": PAPER_RUNS, "design": PAPER_DESIGN, "shared": PAPER_SHARED},
                        runs=PAPER_OWN, collect_inputs={"shared_runs": sorted(set(PAPER_SHARED.values()))},
                        figures=PAPER_FIGURES, tables=PAPER_TABLES,
                        collect_args="--design {input.design} --shared {input.shared}", changes=("coreml",))


# The runs that Core ML does not train (PAPER_OWN), with the Core ML trainer: one per job, or
# `pack` runs of one noise setting per job (tasks/training.smk).
train_rules("paper_train", "paper_run", {r: PAPER_RUNS[r] for r in PAPER_OWN}, f"{PAPER}/runs", f"{LOGS}/paper/train",
            "saidl.coreml.train", threads=PAPER_SCALE["threads"],
            gpu=lambda cfg: PAPER_GPU if cfg["device"] != "cpu" else 0, pack=PAPER_SCALE.get("pack", 1),
            pack_key=pack_key, pack_mode=PAPER_SCALE.get("pack_mode", "serial"), ckpt_dir=f"{PAPER}/ckpt",
            inputs={"fakes": rehearsal_assets("cifar10")})
