# Core ML: noisy labels and the APL losses. One training job per (noise, eta, loss, seed); the
# shared rules (tasks/common.smk) collect, draw, tabulate and typeset them.
from saidl.common.workflow import Chain, gpus
from saidl.coreml.figures import FIGURES as COREML_FIGURES
from saidl.coreml.grid import pack_key, run_configs, scale_config
from saidl.coreml.tables import TABLES as COREML_TABLES

COREML = f"{RESULTS}/coreml"
COREML_SCALE = scale_config(config["coreml"], SCALE)
COREML_RUNS = run_configs(config["coreml"], SCALE)
COREML_GPU = gpus(COREML_SCALE["device"], SCALE)

CHAINS["coreml"] = Chain(wildcard="coreml", grids={"grid": COREML_RUNS}, runs=list(COREML_RUNS),
                         figures=COREML_FIGURES, tables=COREML_TABLES)


# One run per job, or `pack` runs of one noise setting per job (tasks/training.smk).
train_rules("coreml_train", "run", COREML_RUNS, f"{COREML}/runs", f"{LOGS}/coreml/train", "saidl.coreml.train",
            threads=COREML_SCALE["threads"], gpu=COREML_GPU, pack=COREML_SCALE.get("pack", 1), pack_key=pack_key,
            pack_mode=COREML_SCALE.get("pack_mode", "serial"),
            ckpt_dir=f"{COREML}/ckpt", inputs={"fakes": rehearsal_assets("cifar10")})
