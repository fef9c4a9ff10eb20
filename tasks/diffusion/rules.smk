# Diffusion: latent DiTs on Fashion-MNIST (class-conditional) and outdoor crops (unconditional).
# autoencoder per image group -> DiT runs -> samples with FID/CMMD; the guidance/steps study and
# the attention-backend timing on trained weights; reference embeddings once per group.
import json

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
DIFF_GPU = 1 if DIFF_SCALE["device"].startswith("cuda") or (DIFF_SCALE["device"] == "auto" and SCALE == "full") else 0
DIFF_TEMPLATES = sorted(str(p) for p in Path("templates/diffusion").glob("*.tex")) + sorted(
    str(p) for p in Path("templates/common").glob("*.tex") if p.name != "combined.tex")
DIFF_LISTED = ["src/saidl/diffusion/attention.py", "src/saidl/diffusion/dit.py", "src/saidl/diffusion/process.py",
               "src/saidl/diffusion/metrics.py", "src/saidl/diffusion/report.py"]
DIFF_THREADS = f"OMP_NUM_THREADS={DIFF_SCALE['threads']} MKL_NUM_THREADS={DIFF_SCALE['threads']} "


def diff_ae_weights(run):
    """The autoencoder weights a DiT run decodes with ([] with the SD VAE)."""
    ae = f"ae-{DIFF_RUNS[run]['group']}"
    return [f"{DIFF}/weights/{ae}.pt"] if ae in DIFF_AES else []


def diff_ae_arg(paths):
    return f"--ae {paths[0]}" if paths else ""


# The rehearsal's fakes (python -m saidl.fakes) that each job reads: a group's dataset, the SD VAE,
# the hub embedders and DiT-XL/2 ([] at every other scale: rehearsal_assets).
DIFF_DATA_ASSETS = {"sun397": "sun397", "landscapes": "landscapes"}
DIFF_HUB_ASSETS = {"clip": "hub-clip-l14-336", "siglip": "hub-siglip", "align": "hub-align",
                   "sd-vae": "hub-sd-vae", "pretrained": "hub-dit-xl-2"}


def diff_fakes(group=None, codec=False, embedders=False, study=False):
    names = []
    if group is not None and DIFF_SCALE["groups"][group]["dataset"] in DIFF_DATA_ASSETS:
        names.append(DIFF_DATA_ASSETS[DIFF_SCALE["groups"][group]["dataset"]])
    if codec and DIFF_SCALE["codec"] in DIFF_HUB_ASSETS:
        names.append(DIFF_HUB_ASSETS[DIFF_SCALE["codec"]])
    if embedders:
        names += [DIFF_HUB_ASSETS[e] for e in DIFF_EVAL["embedders"] if e in DIFF_HUB_ASSETS]
    if study and DIFF_STUDY["study_run"] in DIFF_HUB_ASSETS:
        names.append(DIFF_HUB_ASSETS[DIFF_STUDY["study_run"]])
    return rehearsal_assets(*names)


wildcard_constraints:
    diff_ae="|".join(re.escape(r) for r in DIFF_AES) or "NONE",
    diff_run="|".join(re.escape(r) for r in DIFF_RUNS),
    diff_group="conditional|unconditional",
    diff_figure="|".join(DIFF_FIGURES),


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
        "../../envs/coreml.yaml"
    shell:
        DIFF_THREADS + "python -m saidl.diffusion.train --config-json {params.cfg:q} --out {output.json} "
        "--weights {output.weights} --grid {output.grid} --threads {threads} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_train:
    """Train one DiT (checkpoint in ckpt/ while it runs); weights hold the EMA and its snapshots."""
    input:
        ae=lambda w: diff_ae_weights(w.diff_run),
        fakes=lambda w: diff_fakes(DIFF_RUNS[w.diff_run]["group"], codec=True),
    output:
        json=f"{DIFF}/runs/{{diff_run}}.json",
        weights=f"{DIFF}/weights/{{diff_run}}.pt",
    params:
        cfg=lambda w: json.dumps(DIFF_RUNS[w.diff_run], sort_keys=True),
        ckpt=lambda w: f"{DIFF}/ckpt/{w.diff_run}.pt",
        ae=lambda w, input: diff_ae_arg(input.ae),
    threads: DIFF_SCALE["threads"]
    priority: lambda w: 40 if DIFF_RUNS[w.diff_run]["group"] == "unconditional" else 20  # the longest runs first
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/train/{{diff_run}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        DIFF_THREADS + "python -m saidl.diffusion.train --config-json {params.cfg:q} --out {output.json} "
        "--weights {output.weights} {params.ae} --ckpt {params.ckpt} --threads {threads} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_reference:
    """Embeddings of the real reference images of one group, with every embedder of the scale."""
    input:
        fakes=lambda w: diff_fakes(w.diff_group, embedders=True),
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
        "../../envs/coreml.yaml"
    shell:
        DIFF_THREADS + "python -m saidl.diffusion.evaluate reference --config-json {params.cfg:q} --out {output.json} "
        "--features {output.features} --threads {threads} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_samples:
    """Sample one trained DiT; FID and CMMD against its group's reference, FID along training."""
    input:
        weights=f"{DIFF}/weights/{{diff_run}}.pt",
        ae=lambda w: diff_ae_weights(w.diff_run),
        reference=lambda w: f"{DIFF}/reference/{DIFF_RUNS[w.diff_run]['group']}.npz",
        fakes=diff_fakes(codec=True, embedders=True),
    output:
        json=f"{DIFF}/eval/{{diff_run}}.json",
        grid=f"{DIFF}/images/{{diff_run}}.png",
    params:
        cfg=lambda w: json.dumps(DIFF_EVAL, sort_keys=True),
        ae=lambda w, input: diff_ae_arg(input.ae),
    threads: DIFF_SCALE["threads"]
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/samples_{{diff_run}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        DIFF_THREADS + "python -m saidl.diffusion.evaluate samples --config-json {params.cfg:q} --out {output.json} "
        "--weights {input.weights} {params.ae} --reference {input.reference} --grid {output.grid} "
        "--threads {threads} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_study:
    """Item 1: one class under several guidance scales and numbers of sampling steps."""
    input:  # study_run 'pretrained' (full scale) loads DiT-XL/2 from the hub instead
        weights=[f"{DIFF}/weights/{DIFF_STUDY['study_run']}.pt"] if DIFF_STUDY["study_run"] in DIFF_RUNS else [],
        ae=diff_ae_weights(DIFF_STUDY["study_run"]) if DIFF_STUDY["study_run"] in DIFF_RUNS else [],
        fakes=diff_fakes(study=True),
    output:
        json=f"{DIFF}/study.json",
        guidance=f"{DIFF}/images/study_guidance.png",
        steps=f"{DIFF}/images/study_steps.png",
    params:
        cfg=lambda w: json.dumps(DIFF_STUDY, sort_keys=True),
        ae=lambda w, input: diff_ae_arg(input.ae),
        weights=lambda w, input: f"--weights {input.weights[0]}" if input.weights else "",
        grids=f"{DIFF}/images",
    threads: DIFF_SCALE["threads"]
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/study.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        DIFF_THREADS + "python -m saidl.diffusion.evaluate study --config-json {params.cfg:q} --out {output.json} "
        "{params.weights} {params.ae} --grids-dir {params.grids} --threads {threads} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_backends:
    """Item 2(a): time to sample the same images with each attention backend (one process). It
    reserves every core so that no other job runs beside the timing; torch uses the scale's threads."""
    input:
        weights=f"{DIFF}/weights/{DIFF_BACKENDS['backend_run']}.pt",
    output:
        f"{DIFF}/backends.json",
    params:
        cfg=lambda w: json.dumps(DIFF_BACKENDS, sort_keys=True),
        threads=DIFF_SCALE["threads"],
    threads: workflow.cores
    resources:
        gpu=DIFF_GPU,
    log:
        f"{LOGS}/diffusion/backends.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        DIFF_THREADS + "python -m saidl.diffusion.evaluate backends --config-json {params.cfg:q} --out {output} "
        "--weights {input.weights} --threads {params.threads} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_grid:
    output:
        f"{DIFF}/grid.json",
    params:
        grid=lambda w: json.dumps({**DIFF_AES, **DIFF_RUNS}, sort_keys=True),
    log:
        f"{LOGS}/diffusion/grid.log",
    run:
        from saidl.common.io import write_json

        write_json(output[0], json.loads(params.grid))


rule diffusion_collect:
    input:
        grid=f"{DIFF}/grid.json",
        runs=expand(f"{DIFF}/runs/{{r}}.json", r=list(DIFF_AES) + list(DIFF_RUNS)),
        evals=expand(f"{DIFF}/eval/{{r}}.json", r=DIFF_RUNS),
        references=expand(f"{DIFF}/reference/{{g}}.json", g=[r[4:] for r in DIFF_REFS]),
        study=f"{DIFF}/study.json",
        backends=f"{DIFF}/backends.json",
        code="src/saidl/diffusion/analyze.py",
    output:
        f"{DIFF}/summary.json",
    log:
        f"{LOGS}/diffusion/collect.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.diffusion.analyze --grid-json {input.grid} --runs-dir {DIFF}/runs --evals-dir {DIFF}/eval "
        "--references-dir {DIFF}/reference --study {input.study} --backends {input.backends} --out {output} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_figure:
    input:
        summary=f"{DIFF}/summary.json",
        code="src/saidl/diffusion/figures/{diff_figure}.py",
        common=["src/saidl/report/figstyle.py", "src/saidl/report/figure_cli.py"],
    output:
        f"{DIFF}/figures/{{diff_figure}}.pdf",
    log:
        f"{LOGS}/diffusion/figure_{{diff_figure}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.diffusion.figures.{wildcards.diff_figure} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_tex:
    input:
        summary=f"{DIFF}/summary.json",
        templates=DIFF_TEMPLATES,
        listed=DIFF_LISTED,
    output:
        f"{DIFF}/tex/report.tex",
    params:
        changes=lambda w: scale_changes_json("diffusion"),
    log:
        f"{LOGS}/diffusion/tex.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build render --task diffusion --summary {input.summary} "
        "--scale-changes {params.changes:q} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule diffusion_pdf:
    input:
        tex=f"{DIFF}/tex/report.tex",
        figures=expand(f"{DIFF}/figures/{{f}}.pdf", f=DIFF_FIGURES),
        images=expand(f"{DIFF}/images/{{r}}.png", r=list(DIFF_AES) + list(DIFF_RUNS) + ["study_guidance", "study_steps"]),
        style="tex/saidl.sty",
        bib="tex/references.bib",
    output:
        f"{DIFF}/diffusion.pdf",
    params:
        texinputs=lambda w, output: os.path.dirname(output[0]),
    log:
        f"{LOGS}/diffusion/pdf.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build pdf --tex {input.tex} --pdf {output} --texinputs {params.texinputs} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"
