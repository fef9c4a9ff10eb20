"""Item 1, the exploratory analysis of a kgbench dataset: what the nodes are (annotation types,
rdf:type classes), what the edges are (relations and their counts), what a node carries (the
literal datatypes next to each entity class), how triples and e2i/i2e work, the labels and
splits, and the sizes an R-GCN then sees.

    python -m saidl.multimodal.eda --dataset DATASET.json --hops 2 --out eda.json
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from saidl.common.io import read_json, write_json

from . import kgbench as kb
from .graph import khop_subgraph, modality_of

log = logging.getLogger(__name__)
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
# dmg777k's classes with their counts (kgbench-data raw/class_distribution); the class indices of
# the split files are matched to names by these counts, which are all different.
DMG777K_CLASSES = {"woonhuis (house)": 4012, "agrarischGebouw (farm building)": 2329, "kerk (church)": 1133,
                   "molen (mill)": 603, "kasteelLandhuis (castle/manor)": 319}


def short(iri: str) -> str:
    """The last path or fragment segment of an IRI (``.../ceo#heeftGemeente`` -> ``heeftGemeente``)."""
    for sep in ("#", "/"):
        if sep in iri.rstrip(sep):
            iri = iri.rstrip(sep).rsplit(sep, 1)[1]
    return iri


def annotation_name(annotation: str) -> str:
    if annotation in ("iri", "blank_node", "none") or annotation.startswith("@"):
        return {"none": "plain literal"}.get(annotation, annotation.replace("_", " ") if not
                                             annotation.startswith("@") else f"string {annotation}")
    return short(annotation)


def display_label(label: str, annotation: str, width: int = 60) -> str:
    if annotation == kb.IMAGE_DT:
        return f"<base64 image, {len(label):,} characters>"
    if annotation == "iri" and width < 40:
        label = ".../" + short(label)
    text = " ".join(label.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def class_names(kg: "kb.KG", meta: dict) -> list[str]:
    if meta.get("synthetic") and meta.get("generator", {}).get("classes"):
        return [f"{c['name_nl']} ({c['name_en']})" for c in meta["generator"]["classes"]]
    counts = np.bincount(np.concatenate([kg.training[:, 1], kg.validation[:, 1], kg.testing[:, 1]]),
                         minlength=kg.num_classes)
    if kg.num_classes == len(DMG777K_CLASSES):
        by_count = sorted(DMG777K_CLASSES, key=DMG777K_CLASSES.get, reverse=True)
        order = np.argsort(-counts, kind="stable")
        names = [""] * kg.num_classes
        for rank, c in enumerate(order):
            names[c] = by_count[rank]
        return names
    return [f"class {c}" for c in range(kg.num_classes)]


def thumbnails(kg: "kb.KG", nodes: list[int], size: int = 48) -> list[str]:
    """PNG thumbnails (base64) of image nodes, for the report's EDA figure."""
    out = []
    for img in kg.iter_images(np.asarray(nodes, dtype=np.int64)):
        img = img.convert("RGB")
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


def analyse(kg: "kb.KG", meta: dict, hops: int | None, examples: int = 4) -> dict:
    s, p, o = kg.triples.T
    node_type = np.asarray(kg.node_type)
    ann_counts = np.bincount(node_type, minlength=len(kg.nodetypes))
    annotations = [{"annotation": a, "name": annotation_name(a), "modality": modality_of(a) or "structure",
                    "count": int(ann_counts[i])} for i, a in enumerate(kg.nodetypes) if ann_counts[i]]

    rel_counts = np.bincount(p, minlength=kg.num_relations)
    relations = sorted(({"iri": kg.i2r[r], "name": short(kg.i2r[r]), "count": int(rel_counts[r])}
                        for r in range(kg.num_relations)), key=lambda d: -d["count"])

    # rdf:type classes of the entities, and which literal datatypes hang off each class's entities
    classes, carries = [], {}
    if RDF_TYPE in kg.r2i:
        t = p == kg.r2i[RDF_TYPE]
        subj_class = dict(zip(s[t].tolist(), o[t].tolist()))
        cls_counts = Counter(subj_class.values())
        classes = [{"iri": kg.i2e[c][0], "name": short(kg.i2e[c][0]), "count": n}
                   for c, n in cls_counts.most_common()]
        is_lit = np.array([modality_of(a) is not None or a == kb.ANYURI_DT for a in kg.nodetypes])[node_type]
        lit = is_lit[o]
        # fraction of a class's entities with at least one literal of each datatype
        having: dict[tuple[int, int], set] = {}
        for a, b in zip(s[lit].tolist(), o[lit].tolist()):
            if a in subj_class:
                having.setdefault((subj_class[a], int(node_type[b])), set()).add(a)
        dts = sorted({dt for _, dt in having})
        carries = {"classes": [short(kg.i2e[c][0]) for c, _ in cls_counts.most_common()],
                   "datatypes": [annotation_name(kg.nodetypes[d]) for d in dts],
                   "fraction": [[len(having.get((c, d), ())) / n for d in dts] for c, n in cls_counts.most_common()]}

    degree = np.bincount(np.concatenate([s, o]), minlength=kg.num_entities)
    labelled = np.concatenate([kg.training[:, 0], kg.validation[:, 0], kg.testing[:, 0]])
    names = class_names(kg, meta)
    splits = {k: np.bincount(getattr(kg, k)[:, 1], minlength=kg.num_classes).tolist()
              for k in ("training", "validation", "testing")}

    # e2i / i2e: a few rows per annotation, and the round trip over every node
    rows = []
    for a in [d["annotation"] for d in annotations]:
        # nodes of exactly this annotation (datatype_l2g(xsd:string) also holds tagged and plain literals)
        exact = np.flatnonzero(np.asarray(kg.node_type) == kg.nodetypes.index(a))
        for g in exact[:2 if a == "iri" else 1]:
            label, ann = kg.i2e[int(g)]
            rows.append({"index": int(g), "annotation": annotation_name(ann), "label": display_label(label, ann)})
    round_trip = sum(kg.e2i[kg.i2e[i]] == i for i in range(kg.num_entities))
    triples = [{"s": display_label(*kg.i2e[int(a)], width=34), "p": short(kg.i2r[int(b)]),
                "o": display_label(*kg.i2e[int(c)], width=34)}
               for a, b, c in kg.triples[np.isin(kg.triples[:, 0], labelled[:1])][:6]]

    subgraphs = []
    for h in sorted({1, 2, hops or 2}):
        sub = khop_subgraph(kg.triples, kg.num_relations, kg.num_entities, labelled, h)
        subgraphs.append({"hops": h, "nodes": sub.num_nodes, "edges": int(sub.edge_index.shape[1])})

    image_nodes = kg.datatype_l2g(kb.IMAGE_DT)
    pics = []
    if len(image_nodes):
        # one picture per class: an image two hops from a training node of that class
        for c in range(kg.num_classes):
            seeds = kg.training[kg.training[:, 1] == c][:examples, 0]
            near = khop_subgraph(kg.triples, kg.num_relations, kg.num_entities, seeds, 2).nodes.numpy()
            hit = np.intersect1d(near, image_nodes)[:examples]
            pics += [{"class": names[c], "png": b64} for b64 in thumbnails(kg, hit.tolist())]
    return {
        "name": meta["name"], "synthetic": bool(meta.get("synthetic")),
        "num_entities": kg.num_entities, "num_relations": kg.num_relations, "num_triples": int(len(kg.triples)),
        "num_classes": kg.num_classes, "class_names": names,
        "annotations": annotations, "relations": relations, "entity_classes": classes, "carries": carries,
        "degree": {"min": int(degree.min()), "max": int(degree.max()), "mean": float(degree.mean()),
                   "hist": np.bincount(np.minimum(np.log2(np.maximum(degree, 1)).astype(int), 20)).tolist()},
        "splits": splits, "labelled": int(len(labelled)),
        "i2e_examples": rows, "e2i_round_trip": {"ok": int(round_trip), "of": kg.num_entities},
        "triple_examples": triples, "subgraphs": subgraphs, "images": pics,
        "edge_types": 2 * kg.num_relations,
    }


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code

    ap = argparse.ArgumentParser(description="exploratory analysis of a kgbench dataset")
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--hops", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def go():
        meta = read_json(args.dataset)
        write_json(args.out, analyse(kb.load(Path(meta["root"])), meta, args.hops))

    return exit_code(go)


if __name__ == "__main__":
    raise SystemExit(main())
