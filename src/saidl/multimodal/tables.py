"""Generated LaTeX tables of the multimodal report (each its own Snakemake job).

Usage: ``python -m saidl.multimodal.tables <name> --summary summary.json --out <name>.tex``
"""

from __future__ import annotations

import sys

from saidl.report.jinja import ci_filter
from saidl.report.latex import Tex, format_num, format_pm, format_thousands
from saidl.report.tables import mean_std_table, simple_table, tables_main

SPLIT_ORDER = ("training", "validation", "testing")  # summary JSON keys come back sorted
FEATURE_TEXT = {"stats": "image statistics", "bow": "bag of words", "numeric": "numbers and booleans",
                "temporal": "years and dates", "spatial": "WKT points", "effnet-lite0": "EfficientNet-Lite0",
                "minilm": "all-MiniLM-L6-v2", "clip-image": "CLIP ViT-B/32 image", "clip-text": "CLIP ViT-B/32 text"}


def table_ablation(summary: dict) -> str:
    """Feature set x (test accuracy, test macro-F1, validation accuracy), best per column in bold."""
    cols = [Tex("test acc. (\\%)"), Tex("test macro-F1 (\\%)"), Tex("val. acc. (\\%)")]
    keys = ("test_acc", "test_f1", "val_acc")
    cells = {(fs, col): summary["cells"][fs][k]["values"] for fs in summary["order"] for col, k in zip(cols, keys)}
    return mean_std_table(summary["order"], cols, cells, row_header="feature set", paired=True)


def table_decomposition(summary: dict) -> str:
    rows = []
    for name, c in summary["decomposition"].items():
        rows.append((name, ci_filter(c["test_acc"]), format_thousands(c["parameters"]),
                     format_num(c["epoch_s"]["mean"], 3)))
    if not rows:
        return "% no decomposition comparison at this scale\n"
    return simple_table(["decomposition", Tex("test acc. (\\%), mean [95\\% CI], n"), "parameters", "s / epoch"], rows)


def table_features(summary: dict) -> str:
    rows = []
    for name, f in summary["features"].items():
        rows.append((FEATURE_TEXT.get(name, name), f["modality"], format_thousands(f["count"]), str(f["dim"]),
                     format_num(f["seconds"], 1), "hit" if f["cache_hit"] else ("miss" if f["fingerprint"] else "--")))
    return simple_table(["features", "modality", "nodes", "dims", "seconds", "cache"], rows)


def table_dataset(summary: dict) -> str:
    e = summary["eda"]
    rows = [("triples (facts)", format_thousands(e["num_triples"])),
            ("nodes (entities and literals)", format_thousands(e["num_entities"])),
            ("relations / edge types with inverses", f"{e['num_relations']} / {e['edge_types']}"),
            ("classes", str(e["num_classes"])),
            ("labelled nodes: train / validation / test",
             " / ".join(format_thousands(sum(e["splits"][k])) for k in SPLIT_ORDER)),
            ("node degree: min / mean / max", f"{e['degree']['min']} / {e['degree']['mean']:.2f} / {e['degree']['max']:,}")]
    rows += [(f"subgraph, {s['hops']} hop{'s' if s['hops'] > 1 else ''} from the labelled nodes",
              f"{s['nodes']:,} nodes, {s['edges']:,} directed edges") for s in e["subgraphs"]]
    return simple_table(["", "value"], rows)


def table_i2e(summary: dict) -> str:
    rows = [(str(r["index"]), r["annotation"], r["label"]) for r in summary["eda"]["i2e_examples"]]
    return simple_table(["index i", "annotation", "label: i2e[i] = (label, annotation)"], rows)


def table_triples(summary: dict) -> str:
    rows = [(t["s"], t["p"], t["o"]) for t in summary["eda"]["triple_examples"]]
    return simple_table(["subject", "predicate", "object"], rows)


def table_when(summary: dict) -> str:
    e = summary["embed_timing"]
    rows = []
    for arm, label in (("precomputed", "precomputed once"), ("on_the_fly", "on the fly")):
        a = e["arms"][arm]
        rows.append((label, format_num(e["epoch_s"][arm], 3), format_pm(a["final"]["validation"]["acc"], None),
                     format_pm(a["final"]["testing"]["acc"], None), format_pm(a["final"]["testing"]["macro_f1"], None)))
    return simple_table(["embedding", "s / epoch", Tex("val. acc. (\\%)"), Tex("test acc. (\\%)"),
                         Tex("test macro-F1 (\\%)")], rows)


def table_finetune(summary: dict) -> str:
    f = summary["finetune"]
    rows = []
    for arm, label in (("frozen", "frozen encoders"), ("joint", "joint fine-tuning")):
        a = f["arms"][arm]
        rows.append((label, format_pm(a["final"]["validation"]["acc"], None), format_pm(a["final"]["testing"]["acc"], None),
                     format_pm(a["final"]["testing"]["macro_f1"], None), format_num(a["seconds"], 1)))
    return simple_table(["", Tex("val. acc. (\\%)"), Tex("test acc. (\\%)"), Tex("test macro-F1 (\\%)"), "seconds"],
                        rows)


TABLES = {f.__name__: f for f in (table_ablation, table_decomposition, table_features, table_dataset, table_i2e,
                                  table_triples, table_when, table_finetune)}


def main(argv: list[str] | None = None) -> int:
    return tables_main(TABLES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
