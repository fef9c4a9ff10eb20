# Multi-modality: R-GCN node classification on a multimodal knowledge graph in kgbench layout.
# dataset (synthetic graph or dmg777k) -> EDA; features once per feature name (pretrained
# encoders through the embedding cache) -> one R-GCN run per feature set and seed; the
# precomputed-vs-on-the-fly timing and the joint fine-tuning bonus -> summary -> report.
import json

from saidl.common.workflow import TIMING_THREADS, Chain, gpus, logged, wildcard_choice
from saidl.multimodal.figures import FIGURES as MM_FIGURES
from saidl.multimodal.grid import job_config as mm_job_config
from saidl.multimodal.grid import needed_features as mm_needed_features
from saidl.multimodal.grid import pack_key as mm_pack_key
from saidl.multimodal.grid import run_configs as mm_run_configs
from saidl.multimodal.grid import scale_config as mm_scale_config
from saidl.multimodal.tables import TABLES as MM_TABLES

MM = f"{RESULTS}/multimodal"
MM_SCALE = mm_scale_config(config["multimodal"], SCALE)
MM_RUNS = mm_run_configs(config["multimodal"], SCALE)
MM_FEATURES = mm_needed_features(config["multimodal"], SCALE)
MM_JOBS = {job: mm_job_config(config["multimodal"], SCALE, job) for job in ("embed_timing", "finetune")}
MM_GPU = gpus(MM_SCALE["device"], SCALE)
MM_THREADS = f"OMP_NUM_THREADS={MM_SCALE['threads']} MKL_NUM_THREADS={MM_SCALE['threads']} "
# The rehearsal's hub snapshot (python -m saidl.fakes) of each feature read from a hub encoder.
MM_HUB_FAKES = {"clip-image": "hub-clip-b32", "clip-text": "hub-clip-b32"}
MM_FEATURE_FAKES = {f: rehearsal_assets(*[MM_HUB_FAKES[f]] if f in MM_HUB_FAKES else []) for f in MM_FEATURES}
MM_JOB_FAKES = {job: rehearsal_assets(*sorted({MM_HUB_FAKES[f] for f in cfg["features"].values() if f in MM_HUB_FAKES}))
                for job, cfg in MM_JOBS.items()}

# Collect reads the runs, the dataset and its EDA, every feature file's metadata and the two
# studies; the features folder is one of its arguments.
CHAINS["multimodal"] = Chain(
    wildcard="mm", grids={"grid": MM_RUNS}, runs=list(MM_RUNS), figures=MM_FIGURES, tables=MM_TABLES,
    collect_inputs={"dataset": f"{MM}/dataset.json", "eda": f"{MM}/eda.json",
                    "features": expand(f"{MM}/features/{{f}}.json", f=MM_FEATURES),
                    "embed_timing": f"{MM}/embed_timing.json", "finetune": f"{MM}/finetune.json"},
    collect_args="--dataset {input.dataset} --eda {input.eda} --features-dir {folder[features]} "
                 "--embed-timing {input.embed_timing} --finetune {input.finetune}")


wildcard_constraints:
    mm_feature=wildcard_choice(MM_FEATURES),


rule multimodal_data:
    """The synthetic graph in kgbench layout (smoke, demo), or dmg777k downloaded and verified (full)."""
    input:
        fakes=rehearsal_assets("dmg777k") if MM_SCALE["data"]["source"] == "dmg777k" else [],
    output:
        f"{MM}/dataset.json",
    params:
        cfg=lambda w: json.dumps(MM_SCALE["data"], sort_keys=True),
        graph=f"{MM}/graph",
    log:
        f"{LOGS}/multimodal/data.log",
    conda:
        SAIDL_ENV
    shell:
        logged("python -m saidl.multimodal.data --config-json {params.cfg:q} --graph-dir {params.graph} --out {output}")


rule multimodal_eda:
    """Item 1: entity, relation and literal statistics, e2i/i2e, splits, subgraph sizes."""
    input:
        dataset=f"{MM}/dataset.json",
        code="src/saidl/multimodal/eda.py",
    output:
        f"{MM}/eda.json",
    params:
        hops=MM_SCALE["train"]["hops"],
    log:
        f"{LOGS}/multimodal/eda.log",
    conda:
        SAIDL_ENV
    shell:
        logged("python -m saidl.multimodal.eda --dataset {input.dataset} --hops {params.hops} --out {output}")


rule multimodal_features:
    """One features file: simple encodings, or a frozen pretrained encoder run once (cached)."""
    input:
        dataset=f"{MM}/dataset.json",
        fakes=lambda w: MM_FEATURE_FAKES[w.mm_feature],
    output:
        pt=f"{MM}/features/{{mm_feature}}.pt",
        meta=f"{MM}/features/{{mm_feature}}.json",
    params:
        cfg=lambda w: json.dumps({"name": w.mm_feature, "hops": MM_SCALE["train"]["hops"],
                                  "encoders": MM_SCALE["encoders"], "hub_cache": MM_SCALE.get("hub_cache"),
                                  "device": MM_SCALE["device"]}, sort_keys=True),
    threads: MM_SCALE["threads"]
    resources:
        gpu=lambda w: MM_GPU if w.mm_feature in ("effnet-lite0", "minilm", "clip-image", "clip-text") else 0,
    log:
        f"{LOGS}/multimodal/features_{{mm_feature}}.log",
    conda:
        SAIDL_ENV
    shell:
        logged(MM_THREADS, "python -m saidl.multimodal.featurize --config-json {params.cfg:q} --dataset {input.dataset} "
               "--out {output.pt} --threads {threads}")


# One R-GCN run (feature set x decomposition x seed) per job, or `pack` runs of one decomposition
# per job (tasks/training.smk).
train_rules("multimodal_train", "mm_run", MM_RUNS, f"{MM}/runs", f"{LOGS}/multimodal/train", "saidl.multimodal.train",
            threads=MM_SCALE["threads"], gpu=MM_GPU, pack=MM_SCALE.get("pack", 1), pack_key=mm_pack_key,
            inputs={"dataset": [f"{MM}/dataset.json"],
                    "features": lambda cfg: [f"{MM}/features/{f}.pt" for f in cfg["features"].values()]},
            args=f"--dataset {{input.dataset}} --features-dir {MM}/features", env=MM_THREADS)

rule multimodal_embed_timing:
    """Item 2(d): epochs with precomputed frozen embeddings against epochs that encode on the fly.
    It reserves every core so that no other job runs beside the timing, and uses them all."""
    input:
        dataset=f"{MM}/dataset.json",
        features=[f"{MM}/features/{f}.pt" for f in MM_JOBS["embed_timing"]["features"].values()],
        fakes=MM_JOB_FAKES["embed_timing"],
        code=["src/saidl/multimodal/embedtime.py", "src/saidl/multimodal/train.py"],
    output:
        f"{MM}/embed_timing.json",
    params:
        cfg=lambda w: json.dumps(MM_JOBS["embed_timing"], sort_keys=True),
        features_dir=lambda w: f"{MM}/features",
    threads: workflow.cores
    resources:
        gpu=MM_GPU,
    log:
        f"{LOGS}/multimodal/embed_timing.log",
    conda:
        SAIDL_ENV
    shell:
        logged(MM_THREADS, "python -m saidl.multimodal.embedtime --config-json {params.cfg:q} --dataset {input.dataset} "
               "--features-dir {params.features_dir} --out {output} "
               "--threads " + TIMING_THREADS)


rule multimodal_finetune:
    """Bonus: image and text encoders fine-tuned jointly with the R-GCN on a subset, against frozen."""
    input:
        dataset=f"{MM}/dataset.json",
        features=[f"{MM}/features/{f}.pt" for f in MM_JOBS["finetune"]["features"].values()],
        fakes=MM_JOB_FAKES["finetune"],
        code=["src/saidl/multimodal/finetune.py", "src/saidl/multimodal/train.py"],
    output:
        f"{MM}/finetune.json",
    params:
        cfg=lambda w: json.dumps(MM_JOBS["finetune"], sort_keys=True),
        features_dir=lambda w: f"{MM}/features",
    threads: MM_SCALE["threads"]
    resources:
        gpu=MM_GPU,
    log:
        f"{LOGS}/multimodal/finetune.log",
    conda:
        SAIDL_ENV
    shell:
        logged(MM_THREADS, "python -m saidl.multimodal.finetune --config-json {params.cfg:q} --dataset {input.dataset} "
               "--features-dir {params.features_dir} --out {output} --threads {threads}")
