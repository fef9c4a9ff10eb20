# State-space models: S4 and S4D with two discretisations, and a NumPy-only S4D.
# One training job per (model, seed); two analyses that need no training. The shared rules
# (tasks/common.smk) collect, draw and typeset them.
import json

from saidl.common.workflow import Chain, gpus, logged
from saidl.ssm.figures import FIGURES as SSM_FIGURES
from saidl.ssm.grid import run_configs as ssm_run_configs
from saidl.ssm.grid import pack_key as ssm_pack_key
from saidl.ssm.grid import pack_mode as ssm_pack_mode
from saidl.ssm.grid import scale_config as ssm_scale_config

SSM = f"{RESULTS}/ssm"
SSM_SCALE = ssm_scale_config(config["ssm"], SCALE)
SSM_RUNS = ssm_run_configs(config["ssm"], SCALE)
SSM_GPU = gpus(SSM_SCALE["device"], SCALE)
SSM_ANALYSIS_CFG = json.dumps({k: SSM_SCALE[k] for k in (
    "timing_lengths", "timing_state", "timing_channels", "timing_repeat", "timing_batch", "dataset", "batch_size", "d_model",
    "n_layers", "d_state") if k in SSM_SCALE})

CHAINS["ssm"] = Chain(wildcard="ssm", grids={"grid": SSM_RUNS}, runs=list(SSM_RUNS), figures=SSM_FIGURES,
                      collect_inputs={"discretisation": f"{SSM}/discretisation.json", "timing": f"{SSM}/timing.json"},
                      collect_args="--discretisation {input.discretisation} --timing {input.timing}")


wildcard_constraints:
    ssm_analysis="discretisation|timing",


# One run per job, or `pack` seeds of one model per job (tasks/training.smk), trained one after
# another or, with `pack_mode: vmap`, together (saidl.ssm.packed; numpy-s4d packs stay serial).
train_rules("ssm_train", "ssm_run", SSM_RUNS, f"{SSM}/runs", f"{LOGS}/ssm/train", "saidl.ssm.train",
            threads=SSM_SCALE["threads"], gpu=lambda cfg: SSM_GPU if cfg["backend"] == "torch" else 0,
            pack=SSM_SCALE.get("pack", 1), pack_key=ssm_pack_key,
            pack_mode=lambda cfgs: ssm_pack_mode(cfgs, SSM_SCALE.get("pack_mode", "serial")), ckpt_dir=f"{SSM}/ckpt",
            inputs={"fakes": rehearsal_assets("cifar10")},
            env="OMP_NUM_THREADS={threads} OPENBLAS_NUM_THREADS={threads} MKL_NUM_THREADS={threads} ")


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
        SAIDL_ENV
    shell:
        logged("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "
               "python -m saidl.ssm.analysis {wildcards.ssm_analysis} --config-json {params.cfg:q} "
               "--out {output}")
