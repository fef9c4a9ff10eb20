# Core ML: noisy labels and the APL losses. One training job per (noise, eta, loss, seed); the
# shared rules (tasks/common.smk) collect, draw, tabulate and typeset them.
import json

from saidl.common.workflow import Chain, gpus, logged, wildcard_choice
from saidl.coreml.figures import FIGURES as COREML_FIGURES
from saidl.coreml.grid import run_configs, scale_config
from saidl.coreml.tables import TABLES as COREML_TABLES

COREML = f"{RESULTS}/coreml"
COREML_SCALE = scale_config(config["coreml"], SCALE)
COREML_RUNS = run_configs(config["coreml"], SCALE)
COREML_GPU = gpus(COREML_SCALE["device"], SCALE)

CHAINS["coreml"] = Chain(wildcard="coreml", grids={"grid": COREML_RUNS}, runs=list(COREML_RUNS),
                         figures=COREML_FIGURES, tables=COREML_TABLES)


wildcard_constraints:
    run=wildcard_choice(COREML_RUNS),


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
        SAIDL_ENV
    shell:
        logged("python -m saidl.coreml.train --config-json {params.cfg:q} --out {output} "
               "--threads {threads} --ckpt {params.ckpt}")
