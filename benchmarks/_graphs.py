"""Benchmark-only data: a generated knowledge graph of dmg777k's size for the multimodal loader
benchmark (``bench_multimodal.py``) and the GPU calibration (``scripts/gpu_check.py``).

Built from the synthetic generator's vocabulary (:mod:`saidl.multimodal.synth`), but vectorised and
with only a weak structural class signal; the workflow never uses it. Scripts in ``benchmarks/``
import it as ``from _graphs import bench_graph`` (their folder is on ``sys.path``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from saidl.common.io import write_json
from saidl.multimodal import kgbench as kgb
from saidl.multimodal.kgbench import ANYURI_DT, BOOLEAN_DT, GYEAR_DT, IMAGE_DT, NNINT_DT, PINT_DT, STRING_DT, WKT_DT
from saidl.multimodal.synth import (CEO, CLASS_IRIS, CLASSES, DCT, DEFAULT_SIGNAL, DEFAULT_SPLITS, FILLERS, GEO, ID,
                                    LANGUAGES, NL_BOX, RDF, RDFS, RELATIONS, SDO, SKOS, TYPES, K, class_counts,
                                    sorted_write)

log = logging.getLogger(__name__)

# dmg777k at scale 1 (raw/stats in pbloem/kgbench-data): entity counts per type, unique literals
# per datatype and literal occurrences per datatype; the rest of the 777,124 triples link entities.
_BENCH_ENTITIES = {"Rijksmonument": 20866, "Afbeelding": 46108, "Adres": 20866, "Geometrie": 20866,
                   "Straat": 20000, "Woonplaats": 2500, "Gemeente": 355, "Provincie": 12, "Architect": 3000,
                   "Organisatie": 1500, "Bouwstijl": 60, "Functie": 400, "Materiaal": 40, "Periode": 12}
_BENCH_ENTITY_TOTAL = 148127  # complexes fill the rest
_BENCH_TARGETS = 8396
_BENCH_TRIPLES = 777124
_BENCH_LITERALS = {  # datatype: (unique nodes, occurrences)
    IMAGE_DT: (46108, 46108), ANYURI_DT: (72779, 72779), WKT_DT: (20866, 20866), NNINT_DT: (8396, 8396),
    BOOLEAN_DT: (2, 8299), GYEAR_DT: (800, 1800), PINT_DT: (300, 510), STRING_DT: (46217, 326159)}
_BENCH_EXTRA_RELATIONS = 60 - len(RELATIONS)


def bench_graph(root: str | os.PathLike, scale: float = 1.0, seed: int = 0, image_size: int = 16) -> dict:
    """Write a graph of dmg777k's size times ``scale`` (148k entities, 196k unique literals among them
    46k real base64 PNG images of ``image_size`` pixels, 777k triples, 60 relations, 8,396 labelled
    monuments) for the loader benchmark; vectorised. Only a weak structural class signal."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)

    def n_of(v: int) -> int:
        return max(1, int(round(v * scale)))

    relations = list(RELATIONS) + [f"{CEO}kenmerk{k}" for k in range(_BENCH_EXTRA_RELATIONS)]
    r2i = {r: i for i, r in enumerate(relations)}
    nodes: list[tuple[str, str]] = [(TYPES[t], "iri") for t in (*_BENCH_ENTITIES, "Complex")]
    type_id = {t: i for i, t in enumerate((*_BENCH_ENTITIES, "Complex"))}
    blocks: dict[str, np.ndarray] = {}
    sizes = {t: n_of(v) for t, v in _BENCH_ENTITIES.items()}
    sizes["Complex"] = max(1, n_of(_BENCH_ENTITY_TOTAL) - sum(sizes.values()) - len(nodes))
    for t, n in sizes.items():
        blank = t in ("Afbeelding", "Adres", "Geometrie")
        start = len(nodes)
        if blank:
            nodes += [(f"_:{t.lower()}-{k}", "blank_node") for k in range(n)]
        else:
            nodes += [(f"{ID}{t.lower()}/{k}", "iri") for k in range(n)]
        blocks[t] = np.arange(start, start + n)
    lits: dict[str, np.ndarray] = {}
    for dt, (unique, _) in _BENCH_LITERALS.items():
        n = 2 if dt == BOOLEAN_DT else n_of(unique)
        start = len(nodes)
        if dt == IMAGE_DT:
            pix = rng.integers(0, 256, size=(n, image_size, image_size, 3), dtype=np.uint8)
            labels = [kgb.encode_image(Image.fromarray(p)) for p in pix]
        elif dt == ANYURI_DT:
            labels = [f"https://images.cultureelerfgoed.nl/{k}.jpg" for k in range(n)]
        elif dt == WKT_DT:
            xy = rng.uniform(NL_BOX[:2], NL_BOX[2:], size=(n, 2))
            labels = [f"POINT({x:.6f} {yy:.6f})" for x, yy in xy.tolist()]
        elif dt == BOOLEAN_DT:
            labels = ["false", "true"]
        elif dt == GYEAR_DT:
            labels = [str(1100 + k) for k in range(n)]
        elif dt in (NNINT_DT, PINT_DT):
            labels = [str(k + 1) for k in range(n)]
        else:
            ann = np.array([a for a, _, _ in LANGUAGES])[rng.choice(3, size=n, p=[p for _, _, p in LANGUAGES])]
            fill = np.array(FILLERS["nl"])[rng.integers(len(FILLERS["nl"]), size=n)]
            nodes += [(f"{f} ({k})", a) for k, (f, a) in enumerate(zip(fill.tolist(), ann.tolist()))]
            lits[dt] = np.arange(start, len(nodes))
            continue
        nodes += [(label, dt) for label in labels]
        lits[dt] = np.arange(start, len(nodes))

    parts = []

    def link(rel: str, s: np.ndarray, o: np.ndarray) -> None:
        parts.append(np.column_stack([s, np.full(len(s), r2i[rel]), o]))

    for t, ids in blocks.items():  # every entity is typed
        link(RDF + "type", ids, np.full(len(ids), type_id[t]))
    mon = blocks["Rijksmonument"]

    def pick(pool: np.ndarray, n: int) -> np.ndarray:
        return pool[rng.integers(len(pool), size=n)]

    link(CEO + "heeftAdres", pick(mon, len(blocks["Adres"])), blocks["Adres"])
    link(GEO + "hasGeometry", pick(mon, len(blocks["Geometrie"])), blocks["Geometrie"])
    link(CEO + "heeftAfbeelding", pick(mon, len(blocks["Afbeelding"])), blocks["Afbeelding"])
    link(CEO + "heeftStraat", blocks["Adres"], pick(blocks["Straat"], len(blocks["Adres"])))
    link(CEO + "ligtInWoonplaats", blocks["Straat"], pick(blocks["Woonplaats"], len(blocks["Straat"])))
    link(CEO + "ligtInGemeente", blocks["Woonplaats"], pick(blocks["Gemeente"], len(blocks["Woonplaats"])))
    link(CEO + "ligtInProvincie", blocks["Gemeente"], pick(blocks["Provincie"], len(blocks["Gemeente"])))
    link(CEO + "onderdeelVan", pick(mon, len(blocks["Complex"])), blocks["Complex"])
    # the labelled monuments and a weak structural signal: their function tied to the class
    n_t = min(n_of(_BENCH_TARGETS), len(mon))
    targets = rng.choice(mon, size=n_t, replace=False)
    y = rng.permutation(np.repeat(np.arange(K), class_counts(n_t)))
    func = blocks["Functie"]
    per = max(1, len(func) // K)
    shown = np.where(rng.random(n_t) < DEFAULT_SIGNAL["structure"], y, rng.integers(K, size=n_t))
    link(CEO + "heeftFunctie", targets, func[np.minimum(shown * per + rng.integers(per, size=n_t), len(func) - 1)])
    # literals: unique-valued ones once each, the others reused
    subj = {IMAGE_DT: blocks["Afbeelding"], WKT_DT: blocks["Geometrie"], NNINT_DT: targets}
    rel_of = {IMAGE_DT: [CEO + "afbeelding"], WKT_DT: [GEO + "asWKT"], NNINT_DT: [CEO + "monumentnummer"],
              ANYURI_DT: [SDO + "contentUrl", CEO + "registerURL", SDO + "url"],
              BOOLEAN_DT: [CEO + "zichtbaarVanafOpenbareWeg", CEO + "inBeschermdGezicht"],
              GYEAR_DT: [CEO + "bouwjaar", CEO + "geboortejaar", DCT + "created"], PINT_DT: [CEO + "hoogte"],
              STRING_DT: [RDFS + "label", RDFS + "comment", CEO + "omschrijving", CEO + "postcode",
                          CEO + "kadastraalPerceel", SKOS + "prefLabel", *relations[len(RELATIONS):]]}
    used = sum(len(p) for p in parts)
    non_string = sum(n_of(occ) for dt, (_, occ) in _BENCH_LITERALS.items() if dt != STRING_DT)
    for dt, (_, occ) in _BENCH_LITERALS.items():
        objs = lits[dt]
        n = max(n_of(_BENCH_TRIPLES) - used - non_string, len(objs)) if dt == STRING_DT else n_of(occ)
        o = np.concatenate([objs, pick(objs, max(0, n - len(objs)))])[:n]
        s = subj.get(dt, mon)
        s = s[:n] if len(s) >= n and dt in subj else pick(s, n)
        r = np.array([r2i[x] for x in rel_of[dt]])[rng.integers(len(rel_of[dt]), size=n)]
        parts.append(np.column_stack([s, r, o]))
    triples = np.concatenate(parts)
    n_triples, sizes_split = sorted_write(Path(root), nodes, relations, triples, targets, y, DEFAULT_SPLITS, rng)
    meta = {"kind": "dmg777k-sized benchmark graph (benchmarks/_graphs.py bench_graph)",
            "params": {"scale": scale, "seed": seed, "image_size": image_size},
            "classes": [{"index": k, "iri": CLASS_IRIS[k], "name_nl": nl, "name_en": en}
                        for k, (nl, en, _) in enumerate(CLASSES)],
            "counts": {"nodes": len(nodes), "entities": int(sum(a in kgb.ENTITY_ANNOTATIONS for _, a in nodes)),
                       "literals": int(sum(a not in kgb.ENTITY_ANNOTATIONS for _, a in nodes)),
                       "images": len(lits[IMAGE_DT]), "relations": len(relations), "triples": n_triples,
                       "splits": sizes_split}}
    write_json(Path(root) / "synthetic.json", meta)
    log.info("benchmark graph (scale %g): %d nodes, %d triples in %.1fs -> %s", scale, len(nodes), n_triples,
             time.perf_counter() - t0, root)
    return meta
