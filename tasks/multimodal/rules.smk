# Multi-modality: R-GCN node classification on a multimodal knowledge graph in kgbench layout.
# dataset (synthetic graph or dmg777k) -> EDA; features once per feature name (pretrained
# encoders through the embedding cache) -> one R-GCN run per feature set and seed; the
# precomputed-vs-on-the-fly timing and the joint fine-tuning bonus -> summary -> report.
import json

from saidl.multimodal.figures import FIGURES as MM_FIGURES
from saidl.multimodal.grid import job_config as mm_job_config
from saidl.multimodal.grid import needed_features as mm_needed_features
from saidl.multimodal.grid import run_configs as mm_run_configs
from saidl.multimodal.grid import scale_config as mm_scale_config
from saidl.multimodal.tables import TABLES as MM_TABLES

MM = f"{RESULTS}/multimodal"
MM_SCALE = mm_scale_config(config["multimodal"], SCALE)
MM_RUNS = mm_run_configs(config["multimodal"], SCALE)
MM_FEATURES = mm_needed_features(config["multimodal"], SCALE)
MM_JOBS = {job: mm_job_config(config["multimodal"], SCALE, job) for job in ("embed_timing", "finetune")}
MM_GPU = 1 if MM_SCALE["device"].startswith("cuda") or (MM_SCALE["device"] == "auto" and SCALE == "full") else 0
MM_TEMPLATES = sorted(str(p) for p in Path("templates/multimodal").glob("*.tex")) + sorted(
    str(p) for p in Path("templates/common").glob("*.tex") if p.name != "combined.tex")
MM_LISTED = ["src/saidl/multimodal/graph.py", "src/saidl/multimodal/model.py", "src/saidl/multimodal/kgbench.py",
             "src/saidl/multimodal/report.py"]
MM_THREADS = f"OMP_NUM_THREADS={MM_SCALE['threads']} MKL_NUM_THREADS={MM_SCALE['threads']} "
MM_HUB_FAKES = {"clip-image": "hub-clip-b32", "clip-text": "hub-clip-b32"}  # hub encoder -> its rehearsal fake


def mm_hub_fakes(names):
    """The rehearsal's hub snapshots that the given feature names read (none at other scales)."""
    return rehearsal_assets(*sorted({MM_HUB_FAKES[n] for n in names if n in MM_HUB_FAKES}))


wildcard_constraints:
    mm_run="|".join(re.escape(r) for r in MM_RUNS),
    mm_feature="|".join(re.escape(f) for f in MM_FEATURES),
    mm_figure="|".join(MM_FIGURES),
    mm_table="|".join(MM_TABLES),


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
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.multimodal.data --config-json {params.cfg:q} --graph-dir {params.graph} --out {output} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


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
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.multimodal.eda --dataset {input.dataset} --hops {params.hops} --out {output} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_features:
    """One features file: simple encodings, or a frozen pretrained encoder run once (cached)."""
    input:
        dataset=f"{MM}/dataset.json",
        fakes=lambda w: mm_hub_fakes([w.mm_feature]),
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
        "../../envs/coreml.yaml"
    shell:
        MM_THREADS + "python -m saidl.multimodal.featurize --config-json {params.cfg:q} --dataset {input.dataset} "
        "--out {output.pt} --threads {threads} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_train:
    """One R-GCN run (feature set x decomposition x seed)."""
    input:
        dataset=f"{MM}/dataset.json",
        features=lambda w: [f"{MM}/features/{f}.pt" for f in MM_RUNS[w.mm_run]["features"].values()],
    output:
        f"{MM}/runs/{{mm_run}}.json",
    params:
        cfg=lambda w: json.dumps(MM_RUNS[w.mm_run], sort_keys=True),
    threads: MM_SCALE["threads"]
    resources:
        gpu=MM_GPU,
    log:
        f"{LOGS}/multimodal/train/{{mm_run}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        MM_THREADS + "python -m saidl.multimodal.train --config-json {params.cfg:q} --dataset {input.dataset} "
        "--features-dir {MM}/features --out {output} --threads {threads} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_embed_timing:
    """Item 2(d): epochs with precomputed frozen embeddings against epochs that encode on the fly.
    It reserves every core so that no other job runs beside the timing."""
    input:
        dataset=f"{MM}/dataset.json",
        features=[f"{MM}/features/{f}.pt" for f in MM_JOBS["embed_timing"]["features"].values()],
        fakes=mm_hub_fakes(MM_JOBS["embed_timing"]["features"].values()),
        code=["src/saidl/multimodal/embedtime.py", "src/saidl/multimodal/train.py"],
    output:
        f"{MM}/embed_timing.json",
    params:
        cfg=lambda w: json.dumps(MM_JOBS["embed_timing"], sort_keys=True),
        threads=MM_SCALE["threads"],  # torch threads, at most the cores the job reserves (clamped in the shell)
    threads: workflow.cores
    resources:
        gpu=MM_GPU,
    log:
        f"{LOGS}/multimodal/embed_timing.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        MM_THREADS + "python -m saidl.multimodal.embedtime --config-json {params.cfg:q} --dataset {input.dataset} "
        "--features-dir {MM}/features --out {output} --threads $(( {params.threads} < {threads} ? {params.threads} : {threads} )) "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_finetune:
    """Bonus: image and text encoders fine-tuned jointly with the R-GCN on a subset, against frozen."""
    input:
        dataset=f"{MM}/dataset.json",
        features=[f"{MM}/features/{f}.pt" for f in MM_JOBS["finetune"]["features"].values()],
        fakes=mm_hub_fakes(MM_JOBS["finetune"]["features"].values()),
        code=["src/saidl/multimodal/finetune.py", "src/saidl/multimodal/train.py"],
    output:
        f"{MM}/finetune.json",
    params:
        cfg=lambda w: json.dumps(MM_JOBS["finetune"], sort_keys=True),
    threads: MM_SCALE["threads"]
    resources:
        gpu=MM_GPU,
    log:
        f"{LOGS}/multimodal/finetune.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        MM_THREADS + "python -m saidl.multimodal.finetune --config-json {params.cfg:q} --dataset {input.dataset} "
        "--features-dir {MM}/features --out {output} --threads {threads} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_grid:
    output:
        f"{MM}/grid.json",
    params:
        grid=lambda w: json.dumps(MM_RUNS, sort_keys=True),
    log:
        f"{LOGS}/multimodal/grid.log",
    run:
        from saidl.common.io import write_json

        write_json(output[0], json.loads(params.grid))


rule multimodal_collect:
    input:
        grid=f"{MM}/grid.json",
        runs=expand(f"{MM}/runs/{{r}}.json", r=MM_RUNS),
        dataset=f"{MM}/dataset.json",
        eda=f"{MM}/eda.json",
        features=expand(f"{MM}/features/{{f}}.json", f=MM_FEATURES),
        embed_timing=f"{MM}/embed_timing.json",
        finetune=f"{MM}/finetune.json",
        code="src/saidl/multimodal/analyze.py",
    output:
        f"{MM}/summary.json",
    log:
        f"{LOGS}/multimodal/collect.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.multimodal.analyze --grid-json {input.grid} --runs-dir {MM}/runs --dataset {input.dataset} "
        "--eda {input.eda} --features-dir {MM}/features --embed-timing {input.embed_timing} "
        "--finetune {input.finetune} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_figure:
    input:
        summary=f"{MM}/summary.json",
        code="src/saidl/multimodal/figures/{mm_figure}.py",
        common=["src/saidl/report/figstyle.py", "src/saidl/report/figure_cli.py"],
    output:
        f"{MM}/figures/{{mm_figure}}.pdf",
    log:
        f"{LOGS}/multimodal/figure_{{mm_figure}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.multimodal.figures.{wildcards.mm_figure} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_table:
    input:
        summary=f"{MM}/summary.json",
        code=["src/saidl/multimodal/tables.py", "src/saidl/report/tables.py"],
    output:
        f"{MM}/tex/tables/{{mm_table}}.tex",
    log:
        f"{LOGS}/multimodal/table_{{mm_table}}.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.multimodal.tables {wildcards.mm_table} --summary {input.summary} "
        "--out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_tex:
    input:
        summary=f"{MM}/summary.json",
        templates=MM_TEMPLATES,
        listed=MM_LISTED,
    output:
        f"{MM}/tex/report.tex",
    params:
        changes=lambda w: scale_changes_json("multimodal"),
    log:
        f"{LOGS}/multimodal/tex.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build render --task multimodal --summary {input.summary} "
        "--scale-changes {params.changes:q} --out {output} > {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"


rule multimodal_pdf:
    input:
        tex=f"{MM}/tex/report.tex",
        figures=expand(f"{MM}/figures/{{f}}.pdf", f=MM_FIGURES),
        tables=expand(f"{MM}/tex/tables/{{t}}.tex", t=MM_TABLES),
        style="tex/saidl.sty",
        bib="tex/references.bib",
    output:
        f"{MM}/multimodal.pdf",
    params:
        texinputs=lambda w, output: os.path.dirname(output[0]),
    log:
        f"{LOGS}/multimodal/pdf.log",
    conda:
        "../../envs/coreml.yaml"
    shell:
        "python -m saidl.report.build pdf --tex {input.tex} --pdf {output} --texinputs {params.texinputs} "
        "> {log} 2>&1 || (tail -n 5 {log} >&2; exit 1)"
