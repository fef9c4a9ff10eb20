# Diffusion: latent DiTs on Fashion-MNIST (class-conditional) and outdoor crops (unconditional).
# autoencoder per image group -> DiT runs -> samples with FID/CMMD; the guidance/steps study and
# the attention-backend timing on trained weights; reference embeddings once per group.
import json
import os

from saidl.common.workflow import TIMING_THREADS, Chain, gpus, logged, wildcard_choice
from saidl.diffusion.figures import FIGURES as DIFF_FIGURES
from saidl.diffusion.grid import autoencoder_configs as diff_ae_configs
from saidl.diffusion.grid import eval_config as diff_eval_config
from saidl.diffusion.grid import reference_configs as diff_ref_configs
from saidl.diffusion.grid import run_configs as diff_run_configs
from saidl.diffusion.grid import scale_config as diff_scale_config

DIFF = f"{RESULTS}/diffusion"
DIFF_SCALE = diff_scale_config(config["diffusion"], SCALE)
DIFF_AES = diff_ae_configs(config["diffusion"], SCALE)
DIFF_RUNS = diff_run_configs(config["diffusion"], SCALE)
DIFF_REFS = diff_ref_configs(config["diffusion"], SCALE)
DIFF_EVAL = diff_eval_config(config["diffusion"], SCALE, "evaluation")
DIFF_STUDY = diff_eval_config(config["diffusion"], SCALE, "study")
DIFF_BACKENDS = diff_eval_config(config["diffusion"], SCALE, "backends")
DIFF_GPU = gpus(DIFF_SCALE["device"], SCALE)
DIFF_THREADS = f"OMP_NUM_THREADS={DIFF_SCALE['threads']} MKL_NUM_THREADS={DIFF_SCALE['threads']} "
# The autoencoder weights each DiT run decodes with ([] with the SD VAE).
DIFF_AE_WEIGHTS = {run: [f"{DIFF}/weights/ae-{cfg['group']}.pt"] if f"ae-{cfg['group']}" in DIFF_AES else []
                   for run, cfg in DIFF_RUNS.items()}

# The rehearsal's fakes (python -m saidl.fakes) that each job reads: a group's dataset, the SD VAE,
# the hub embedders and DiT-XL/2 ([] at every other scale: rehearsal_assets).
DIFF_DATA_ASSETS = {"sun397": "sun397", "landscapes": "landscapes"}
DIFF_HUB_ASSETS = {"clip": "hub-clip-l14-336", "siglip": "hub-siglip", "align": "hub-align",
                   "sd-vae": "hub-sd-vae", "pretrained": "hub-dit-xl-2"}
DIFF_GROUP_FAKES = {group: rehearsal_assets(*[DIFF_DATA_ASSETS[g["dataset"]]] if g["dataset"] in DIFF_DATA_ASSETS else [])
                    for group, g in DIFF_SCALE["groups"].items()}
DIFF_CODEC_FAKES = rehearsal_assets(*[DIFF_HUB_ASSETS[DIFF_SCALE["codec"]]] if DIFF_SCALE["codec"] in DIFF_HUB_ASSETS else [])
DIFF_EMBEDDER_FAKES = rehearsal_assets(*[DIFF_HUB_ASSETS[e] for e in DIFF_EVAL["embedders"] if e in DIFF_HUB_ASSETS])
DIFF_STUDY_FAKES = rehearsal_assets(
    *[DIFF_HUB_ASSETS[DIFF_STUDY["study_run"]]] if DIFF_STUDY["study_run"] in DIFF_HUB_ASSETS else [])

# Collect reads every run, its samples' metrics, the references, the study and the backend timing;
# the PDF shows every run's sample grid and the study's.
CHAINS["diffusion"] = Chain(
    wildcard="diff", grids={"grid": {**DIFF_AES, **DIFF_RUNS}}, runs=list(DIFF_AES) + list(DIFF_RUNS), figures=DIFF_FIGURES,
    collect_inputs={"evals": expand(f"{DIFF}/eval/{{r}}.json", r=DIFF_RUNS),
                    "references": expand(f"{DIFF}/reference/{{g}}.json", g=[r[4:] for r in DIFF_REFS]),
                    "study": f"{DIFF}/study.json", "backends": f"{DIFF}/backends.json"},
    collect_args="--evals-dir {folder[evals]} --references-dir {folder[references]} --study {input.study} "
                 "--backends {input.backends}",
    pdf_inputs={"images": expand(f"{DIFF}/images/{{r}}.png",
                                 r=list(DIFF_AES) + list(DIFF_RUNS) + ["study_guidance", "study_steps"])})


wildcard_constraints:
    diff_ae=wildcard_choice(DIFF_AES),
    diff_run=wildcard_choice(DIFF_RUNS),
    diff_group="conditional|unconditional",


rule diffusion_autoencoder:
    """Train the demo autoencoder of one image group and measure its latent scale."""
    output:
        json=f"{DIFF}/runs/{{diff_ae}}.json",
        weights=f"{DIFF}/weights/{{diff_ae}}.pt",
        grid=f"{DIFF}/images/{{diff_ae}}.png",
    params:
        cfg=lambda w: json.dumps(DIFF_AES[w.diff_ae], sort_keys=True),
    threads: DIFF_SCALE["threads"]
    priority: 50  # first on the critical path: autoencoder -> DiT -> samples
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/train/{{diff_ae}}.log",
    conda:
        SAIDL_ENV
    shell:
        logged(DIFF_THREADS, "python -m saidl.diffusion.train --config-json {params.cfg:q} --out {output.json} "
               "--weights {output.weights} --grid {output.grid} --threads {threads}")


rule diffusion_train:
    """Train one DiT (checkpoint in ckpt/ while it runs); weights hold the EMA and its snapshots."""
    input:
        ae=lambda w: DIFF_AE_WEIGHTS[w.diff_run],
        fakes=lambda w: DIFF_GROUP_FAKES[DIFF_RUNS[w.diff_run]["group"]] + DIFF_CODEC_FAKES,
    output:
        json=f"{DIFF}/runs/{{diff_run}}.json",
        weights=f"{DIFF}/weights/{{diff_run}}.pt",
    params:
        cfg=lambda w: json.dumps(DIFF_RUNS[w.diff_run], sort_keys=True),
        ckpt=lambda w: f"{DIFF}/ckpt/{w.diff_run}.pt",
        ae=lambda w, input: f"--ae {input.ae[0]}" if input.ae else "",
    threads: DIFF_SCALE["threads"]
    priority: lambda w: 40 if DIFF_RUNS[w.diff_run]["group"] == "unconditional" else 20  # the longest runs first
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/train/{{diff_run}}.log",
    conda:
        SAIDL_ENV
    shell:
        logged(DIFF_THREADS, "python -m saidl.diffusion.train --config-json {params.cfg:q} --out {output.json} "
               "--weights {output.weights} {params.ae} --ckpt {params.ckpt} --threads {threads}")


rule diffusion_reference:
    """Embeddings of the real reference images of one group, with every embedder of the scale."""
    input:
        fakes=lambda w: DIFF_GROUP_FAKES[w.diff_group] + DIFF_EMBEDDER_FAKES,
    output:
        json=f"{DIFF}/reference/{{diff_group}}.json",
        features=f"{DIFF}/reference/{{diff_group}}.npz",
    params:
        cfg=lambda w: json.dumps(DIFF_REFS[f"ref-{w.diff_group}"], sort_keys=True),
    threads: DIFF_SCALE["threads"]
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/reference_{{diff_group}}.log",
    conda:
        SAIDL_ENV
    shell:
        logged(DIFF_THREADS, "python -m saidl.diffusion.evaluate reference --config-json {params.cfg:q} --out {output.json} "
               "--features {output.features} --threads {threads}")


rule diffusion_samples:
    """Sample one trained DiT; FID and CMMD against its group's reference, FID along training."""
    input:
        weights=f"{DIFF}/weights/{{diff_run}}.pt",
        ae=lambda w: DIFF_AE_WEIGHTS[w.diff_run],
        reference=lambda w: f"{DIFF}/reference/{DIFF_RUNS[w.diff_run]['group']}.npz",
        fakes=DIFF_CODEC_FAKES + DIFF_EMBEDDER_FAKES,
    output:
        json=f"{DIFF}/eval/{{diff_run}}.json",
        grid=f"{DIFF}/images/{{diff_run}}.png",
    params:
        cfg=lambda w: json.dumps(DIFF_EVAL, sort_keys=True),
        ae=lambda w, input: f"--ae {input.ae[0]}" if input.ae else "",
    threads: DIFF_SCALE["threads"]
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/samples_{{diff_run}}.log",
    conda:
        SAIDL_ENV
    shell:
        logged(DIFF_THREADS, "python -m saidl.diffusion.evaluate samples --config-json {params.cfg:q} --out {output.json} "
               "--weights {input.weights} {params.ae} --reference {input.reference} --grid {output.grid} "
               "--threads {threads}")


rule diffusion_study:
    """Item 1: one class under several guidance scales and numbers of sampling steps."""
    input:  # study_run 'pretrained' (full scale) loads DiT-XL/2 from the hub instead
        weights=[f"{DIFF}/weights/{DIFF_STUDY['study_run']}.pt"] if DIFF_STUDY["study_run"] in DIFF_RUNS else [],
        ae=DIFF_AE_WEIGHTS.get(DIFF_STUDY["study_run"], []),
        fakes=DIFF_STUDY_FAKES,
    output:
        json=f"{DIFF}/study.json",
        guidance=f"{DIFF}/images/study_guidance.png",
        steps=f"{DIFF}/images/study_steps.png",
    params:
        cfg=lambda w: json.dumps(DIFF_STUDY, sort_keys=True),
        ae=lambda w, input: f"--ae {input.ae[0]}" if input.ae else "",
        weights=lambda w, input: f"--weights {input.weights[0]}" if input.weights else "",
        grids=lambda w, output: os.path.dirname(output.guidance),
    threads: DIFF_SCALE["threads"]
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/study.log",
    conda:
        SAIDL_ENV
    shell:
        logged(DIFF_THREADS, "python -m saidl.diffusion.evaluate study --config-json {params.cfg:q} --out {output.json} "
               "{params.weights} {params.ae} --grids-dir {params.grids} --threads {threads}")


rule diffusion_backends:
    """Item 2(a): time to sample the same images with each attention backend (one process). It
    reserves every core so that no other job runs beside the timing, and uses them all."""
    input:
        weights=f"{DIFF}/weights/{DIFF_BACKENDS['backend_run']}.pt",
    output:
        f"{DIFF}/backends.json",
    params:
        cfg=lambda w: json.dumps(DIFF_BACKENDS, sort_keys=True),
    threads: workflow.cores
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/backends.log",
    conda:
        SAIDL_ENV
    shell:
        logged(DIFF_THREADS, "python -m saidl.diffusion.evaluate backends --config-json {params.cfg:q} --out {output} "
               "--weights {input.weights} --threads " + TIMING_THREADS)
