"""A synthetic dmg777k-style knowledge graph in the kgbench layout (the demo and smoke stand-in).

Modelled on dmg777k (the Dutch monuments register of the RCE): the targets are monuments typed
``ceo:Rijksmonument``, to be classified into dmg777k's five classes with its proportions (the label
triples are not in the graph, as in dmg777k). Around them: addresses and geometries (blank
nodes), streets, places, municipalities, provinces, functions, styles, materials, periods,
complexes, architects, organisations and image resources (blank nodes), with literals of every
kgbench datatype: base64 PNG images, Dutch/English texts (language-tagged and plain), gYear,
xsd:date, positiveInteger, nonNegativeInteger, wktLiteral, boolean and anyURI.

The class signal: for each monument and modality (:data:`MODALITIES`) an *apparent class* is the
true class with probability ``signal[modality]``, else a uniformly random class; everything that
modality shows about the monument is drawn from its apparent class:

- structure: ``heeftFunctie`` (and ``oorspronkelijkeFunctie``) -> a function of that class (its
  ``skos:broader`` category names the class), plus a style, materials, an architect, an owner and
  a complex drawn from class-dependent preferences;
- image: a building silhouette of that class (house with pitched roof, wide low barn, church with
  tower and spire, mill with sails, castle with crenellations), random colours, position and
  scale jitter, trees, clouds and pixel noise;
- text: a description with one phrase for that class, drawn from many Dutch and English synonyms
  (so a bag of words sees each rarely), among class-neutral filler sentences;
- number: the height (``hoogte``, positiveInteger), log-normal per class;
- date: the construction year (``bouwjaar``, gYear), normal per class, and the period it falls in;
- spatial: the WKT point, drawn from class-specific regions of the Netherlands; the nearest place
  gives the address and municipality, so location also reaches the graph structure.

Monument numbers (nonNegativeInteger), registration dates, booleans and URLs carry no signal.
A graph of dmg777k's size for the loader benchmark: ``benchmarks/_graphs.py``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from saidl.common.errors import ConfigError
from saidl.common.io import write_json
from saidl.multimodal import kgbench as kgb
from saidl.multimodal.kgbench import (ANYURI_DT, BOOLEAN_DT, DATE_DT, GYEAR_DT, IMAGE_DT, NNINT_DT, PINT_DT,
                                      STRING_DT, WKT_DT)

log = logging.getLogger(__name__)

# (Dutch name as in dmg777k's class IRIs, English name, count in dmg777k)
CLASSES = (("woonhuis", "house", 4012), ("agrarischGebouw", "farm building", 2329), ("kerk", "church", 1133),
           ("molen", "mill", 603), ("kasteelLandhuis", "castle / manor house", 319))
CLASS_IRIS = tuple(f"https://data.labs.pdok.nl/rce/def/{nl}" for nl, _, _ in CLASSES)  # never in the graph
K = len(CLASSES)
MODALITIES = ("structure", "image", "text", "number", "date", "spatial")
DEFAULT_SIGNAL = {"structure": 0.5, "image": 0.6, "text": 0.5, "number": 0.4, "date": 0.4, "spatial": 0.3}
DEFAULT_SPLITS = (0.64, 0.12, 0.24)  # dmg777k: 5,394 / 1,001 / 2,001
NUMBER_FRACTION = 0.6   # monuments with a height
DATE_FRACTION = 0.7     # monuments with a construction year
SECOND_IMAGE = 0.3      # probability that a monument with an image has a second one

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
GEO = "http://www.opengis.net/ont/geosparql#"
DCT = "http://purl.org/dc/terms/"
SDO = "http://schema.org/"
CEO = "https://data.labs.pdok.nl/rce/def/"
ID = "https://data.labs.pdok.nl/rce/id/"
MONUMENT = CEO + "Rijksmonument"
TYPES = {t: CEO + t for t in ("Rijksmonument", "Gemeente", "Provincie", "Woonplaats", "Straat", "Adres",
                              "Afbeelding", "Architect", "Organisatie", "Bouwstijl", "Functie", "Materiaal",
                              "Periode", "Complex")} | {"Geometrie": GEO + "Geometry"}
RELATIONS = (
    RDF + "type", RDFS + "label", RDFS + "comment", SKOS + "prefLabel", SKOS + "altLabel", SKOS + "broader",
    SKOS + "inScheme", GEO + "hasGeometry", GEO + "asWKT", DCT + "creator", DCT + "created", SDO + "contentUrl",
    SDO + "url", CEO + "monumentnummer", CEO + "registratiedatum", CEO + "bouwjaar", CEO + "hoogte",
    CEO + "heeftFunctie", CEO + "oorspronkelijkeFunctie", CEO + "heeftBouwstijl", CEO + "heeftMateriaal",
    CEO + "heeftPeriode", CEO + "heeftArchitect", CEO + "heeftEigenaar", CEO + "onderdeelVan", CEO + "heeftAdres",
    CEO + "heeftStraat", CEO + "huisnummer", CEO + "postcode", CEO + "ligtInWoonplaats", CEO + "ligtInGemeente",
    CEO + "ligtInProvincie", CEO + "heeftAfbeelding", CEO + "afbeelding", CEO + "omschrijving",
    CEO + "zichtbaarVanafOpenbareWeg", CEO + "inBeschermdGezicht", CEO + "registerURL", CEO + "geboortejaar",
    CEO + "cbsCode", CEO + "inwonertal", CEO + "kadastraalPerceel", CEO + "periodeBegin", CEO + "periodeEind",
    CEO + "complexnummer",
)
MODALITY_RELATIONS = {  # where each modality's class signal enters the graph
    "structure": [CEO + r for r in ("heeftFunctie", "oorspronkelijkeFunctie", "heeftBouwstijl", "heeftMateriaal",
                                    "heeftArchitect", "heeftEigenaar", "onderdeelVan")],
    "image": [CEO + "heeftAfbeelding", CEO + "afbeelding"], "text": [CEO + "omschrijving"],
    "number": [CEO + "hoogte"], "date": [CEO + "bouwjaar", CEO + "heeftPeriode"],
    "spatial": [GEO + "hasGeometry", GEO + "asWKT"],
}

# Functions per class (Dutch, English); the first names the class category (skos:broader target).
FUNCTIONS = (
    (("Woonhuizen", "Dwellings"), ("woonhuis", "house"), ("herenhuis", "mansion"), ("dienstwoning", "staff house"),
     ("arbeiderswoning", "worker's house"), ("pastorie", "parsonage")),
    (("Agrarische gebouwen", "Farm buildings"), ("boerderij", "farm"), ("schuur", "barn"), ("stal", "stable"),
     ("hooiberg", "haystack barrack"), ("bakhuis", "bakehouse")),
    (("Religieuze gebouwen", "Religious buildings"), ("kerk", "church"), ("kapel", "chapel"),
     ("kerktoren", "church tower"), ("klooster", "monastery"), ("synagoge", "synagogue")),
    (("Molens", "Mills"), ("windmolen", "windmill"), ("watermolen", "watermill"), ("poldermolen", "drainage mill"),
     ("korenmolen", "corn mill"), ("zaagmolen", "sawmill")),
    (("Kastelen, landhuizen en parken", "Castles, country houses and parks"), ("kasteel", "castle"),
     ("landhuis", "country house"), ("buitenplaats", "country estate"), ("havezate", "manor"),
     ("poortgebouw", "gatehouse")),
)
STYLES = (("Gotiek", "Gothic", None), ("Romaans", "Romanesque", None), ("Neogotiek", "Gothic Revival", 0),
          ("Renaissance", "Renaissance", None), ("Hollandse renaissance", "Dutch Renaissance", 3),
          ("Barok", "Baroque", None), ("Classicisme", "Classicism", None), ("Lodewijk XIV", "Louis XIV", 5),
          ("Neoclassicisme", "Neoclassicism", 6), ("Eclecticisme", "Eclecticism", None),
          ("Art Nouveau", "Art Nouveau", None), ("Amsterdamse School", "Amsterdam School", None),
          ("Traditionalisme", "Traditionalism", None), ("Chaletstijl", "Chalet style", 12),
          ("Vernaculair", "Vernacular", None), ("Zakelijk expressionisme", "Functional expressionism", 11))
STYLE_PREFS = ((4, 7, 9, 10, 11, 15), (12, 13, 14), (0, 1, 2, 8), (14, 12, 6), (3, 5, 6, 7))  # per class
MATERIALS = ("baksteen", "natuursteen", "hout", "riet", "leisteen", "dakpannen", "tufsteen", "ijzer", "beton", "mergel")
MATERIAL_PREFS = ((0, 5, 8), (3, 2, 5), (1, 6, 4, 0), (2, 3, 0), (0, 1, 4, 9))
PERIODS = (("Middeleeuwen", 1000, 1499), ("Renaissance", 1500, 1599), ("Gouden Eeuw", 1600, 1699),
           ("Achttiende eeuw", 1700, 1799), ("Negentiende eeuw", 1800, 1899), ("Interbellum", 1900, 1939),
           ("Wederopbouw", 1940, 1990))
HEIGHT = ((9.0, 0.25), (11.0, 0.25), (30.0, 0.35), (22.0, 0.2), (16.0, 0.3))      # median m, log-sd
YEAR = ((1850, 80), (1820, 70), (1450, 150), (1800, 60), (1600, 120))              # mean, sd
REGIONS = (  # (lon, lat, sd) cluster centres per class
    ((4.89, 52.37, .15), (5.12, 52.09, .12), (4.48, 52.16, .12), (6.16, 52.25, .15), (5.69, 50.85, .1),
     (6.57, 53.22, .12)),
    ((6.6, 52.75, .25), (5.3, 51.6, .25), (5.8, 53.05, .2), (6.9, 52.3, .2)),
    ((5.1, 51.75, .2), (6.3, 53.3, .15), (5.95, 51.25, .15), (4.1, 51.5, .15), (4.4, 52.0, .15)),
    ((4.8, 52.47, .12), (4.64, 51.88, .15), (5.7, 53.1, .3), (6.6, 53.25, .25)),
    ((6.0, 52.1, .25), (5.85, 50.95, .2), (5.2, 52.05, .15), (6.7, 52.3, .2)),
)
NL_BOX = (3.36, 50.75, 7.23, 53.55)  # lon min, lat min, lon max, lat max
PROVINCES = (("Groningen", 6.74, 53.22), ("Friesland", 5.8, 53.1), ("Drenthe", 6.6, 52.86),
             ("Overijssel", 6.45, 52.44), ("Flevoland", 5.6, 52.5), ("Gelderland", 5.9, 52.06),
             ("Utrecht", 5.2, 52.08), ("Noord-Holland", 4.87, 52.58), ("Zuid-Holland", 4.5, 51.98),
             ("Zeeland", 3.85, 51.5), ("Noord-Brabant", 5.2, 51.56), ("Limburg", 5.93, 51.2))

# Text: class phrases (no phrase occurs inside another class's phrase or a filler sentence).
PHRASES = {
    "nl": (("woonhuis", "herenhuis", "burgerwoning", "grachtenpand", "koopmanshuis", "arbeiderswoning",
            "rijtjeshuis", "dijkwoning", "villa", "hoekpand", "bovenwoning", "notariswoning"),
           ("boerderij", "schuur", "hallenhuisboerderij", "stolpboerderij", "langgevelboerderij", "veestal",
            "hooiberg", "wagenschuur", "schaapskooi", "tabaksschuur", "kop-hals-rompboerderij", "krukhuis"),
           ("kerk", "kapel", "basiliek", "dorpskerk", "schuilkerk", "kathedraal", "godshuis", "bedehuis",
            "kloosterkerk", "zaalkerk", "kruiskerk", "doopsgezinde vermaning"),
           ("molen", "windmolen", "korenmolen", "poldermolen", "watermolen", "stellingmolen", "standerdmolen",
            "wipmolen", "zaagmolen", "grondzeiler", "oliemolen", "bovenkruier"),
           ("kasteel", "landhuis", "havezate", "buitenplaats", "burcht", "ridderhofstad", "waterburcht",
            "jachtslot", "landgoed", "kasteelruïne", "adellijk huis", "versterkt huis")),
    "en": (("town house", "terraced house", "merchant's house", "canal house", "family dwelling",
            "private residence", "worker's cottage", "corner house", "suburban villa", "dwelling house"),
           ("farmhouse", "barn", "cow shed", "hay barrack", "sheepfold", "longhouse farm", "tobacco shed",
            "cart shed", "granary", "farmstead"),
           ("church", "chapel", "basilica", "cathedral", "parish church", "place of worship", "steeple",
            "minster", "abbey church", "meeting house of the Mennonites"),
           ("windmill", "watermill", "corn mill", "polder mill", "sawmill", "post mill", "smock mill",
            "tower mill", "drainage mill", "oil mill"),
           ("castle", "manor house", "country estate", "stately home", "fortified house", "moated castle",
            "country seat", "hunting lodge", "castle ruin", "manorial estate")),
}
TEMPLATES = {
    "nl": ("Beschrijving: {p}.", "Betreft {p} met bijbehorend erf.", "Monumentaal {p}, in de loop der tijd gewijzigd.",
           "Gaaf bewaard {p}.", "Voormalig {p}, later aangepast.", "Het {p} is van cultuurhistorisch belang."),
    "en": ("Description: {p}.", "A {p} of cultural-historical value.", "Former {p}, altered over time.",
           "Listed as {p} with outbuildings.", "The {p} is a landmark in its surroundings.",
           "Well-preserved {p}."),
}
FILLERS = {
    "nl": ("Het gebouw is in de loop der tijd meermaals verbouwd.", "De gevels zijn gepleisterd en wit geschilderd.",
           "Rechthoekig bouwvolume onder een zadeldak met pannen.", "De vensters hebben een roedenverdeling.",
           "Het interieur is grotendeels gewijzigd.", "Gelegen aan de rand van de bebouwde kom.",
           "Het geheel is van belang vanwege de architectuurhistorische waarde.",
           "Aan de achterzijde bevindt zich een latere uitbouw.", "De voorgevel is symmetrisch opgezet.",
           "Het erf wordt omzoomd door bomen.", "Gerestaureerd in de twintigste eeuw.", "Ingang in de zijgevel.",
           "De fundering is in baksteen uitgevoerd.", "Op de nok staat een windvaan."),
    "en": ("The building has been altered several times.", "The facades are plastered and painted white.",
           "Rectangular volume under a tiled saddle roof.", "The windows have glazing bars.",
           "The interior has largely been modernised.", "Located at the edge of the built-up area.",
           "Of architectural-historical value as a whole.", "A later extension stands at the rear.",
           "The front facade is symmetrical.", "The yard is lined with trees.", "Restored in the twentieth century.",
           "Entrance in the side facade.", "The foundations are of brick.", "A weather vane tops the ridge."),
}
LANGUAGES = (("@nl", "nl", 0.55), ("@en", "en", 0.25), (STRING_DT, "nl", 0.20))  # annotation, language, share

_SYLLABLES = ("Aal", "Bein", "Bos", "Dren", "Eem", "Grev", "Har", "Hil", "Kam", "Lin", "Mep", "Nij", "Oost", "Pur",
              "Ros", "Sne", "Ter", "Ulr", "Vee", "Wes", "Zuid", "Zwa", "Ber", "Dal", "Elst", "Gor", "Hoo", "Lee",
              "Mid", "Oud")
_SUFFIXES = ("dam", "wijk", "veen", "dorp", "hoven", "horst", "zand", "broek", "hout", "rode", "meer", "lo",
             "sum", "um")
_STREETS = ("Dorpsstraat", "Hoofdstraat", "Schoolstraat", "Stationsweg", "Beukenlaan", "Eikenlaan",
            "Julianastraat", "Nieuwstraat", "Achterweg", "Brink", "Markt", "Veldweg", "Dijkweg", "Zandweg",
            "Lindenlaan", "Wilhelminastraat", "Oranjestraat", "Voorstraat", "Havenstraat", "Singel")
_FIRST = ("Pierre", "Jan", "Willem", "Hendrik", "Cornelis", "Jacob", "Karel", "Michel", "Eduard", "Arie",
          "Gerrit", "Dirk", "Johannes", "Lieven")
_LAST = ("Cuypers", "de Keyser", "Berlage", "Springer", "van Campen", "Post", "Vingboons", "de Bazel",
         "Kromhout", "Dudok", "de Klerk", "Oud", "Rietveld", "van Gendt", "Salm", "Leliman", "Tepe", "Kropholler")


class _Graph:
    """Collects nodes (each (label, annotation) once) and triples, then writes them sorted as kgbench does."""

    def __init__(self) -> None:
        self.nodes: list[tuple[str, str]] = []
        self.ids: dict[tuple[str, str], int] = {}
        self.triples: list[tuple[int, int, int]] = []
        self.r2i = {r: i for i, r in enumerate(RELATIONS)}

    def node(self, label: str, annotation: str) -> int:
        key = (label, annotation)
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.nodes)
            self.nodes.append(key)
        return i

    def iri(self, label: str) -> int:
        return self.node(label, "iri")

    def add(self, s: int, rel: str, o: int) -> None:
        self.triples.append((s, self.r2i[rel], o))

    def typed(self, label: str, kind: str, blank: bool = False) -> int:
        i = self.node(label, "blank_node" if blank else "iri")
        self.add(i, RDF + "type", self.iri(TYPES[kind]))
        return i


def sorted_write(root: Path, nodes: list[tuple[str, str]], relations: list[str], triples: np.ndarray,
                  labelled: np.ndarray, classes: np.ndarray, fractions, rng: np.random.Generator) -> dict:
    """Sort nodes and relations as kgbench's hdt2csv does (duplicate triples dropped), split the
    labelled nodes stratified, write. Returns the number of triples and the split sizes."""
    order = sorted(range(len(nodes)), key=nodes.__getitem__)
    new = np.empty(len(nodes), dtype=np.int64)
    new[order] = np.arange(len(nodes))
    r_order = sorted(range(len(relations)), key=relations.__getitem__)
    r_new = np.empty(len(relations), dtype=np.int64)
    r_new[r_order] = np.arange(len(relations))
    t = np.unique(np.column_stack([new[triples[:, 0]], r_new[triples[:, 1]], new[triples[:, 2]]]), axis=0)
    splits = stratified_split(classes, fractions, rng)
    parts = {s: np.column_stack([new[labelled[idx]], classes[idx]]) for s, idx in splits.items()}
    kgb.write(root, [nodes[i] for i in order], [relations[i] for i in r_order], t, parts)
    return len(t), {s: len(v) for s, v in parts.items()}


def stratified_split(classes: np.ndarray, fractions, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Positions into ``classes`` for training/validation/testing, per class in the given fractions
    (every split gets one of each class that has at least three members)."""
    out: dict[str, list] = {s: [] for s in kgb.SPLITS}
    for c in np.unique(classes):
        idx = rng.permutation(np.flatnonzero(classes == c))
        n = len(idx)
        n_val = int(round(fractions[1] * n))
        n_test = int(round(fractions[2] * n))
        if n >= 3:
            n_val, n_test = max(n_val, 1), max(n_test, 1)
        n_train = n - n_val - n_test
        out["training"].append(idx[:n_train])
        out["validation"].append(idx[n_train:n_train + n_val])
        out["testing"].append(idx[n_train + n_val:])
    return {s: np.sort(np.concatenate(v)) if v else np.zeros(0, np.int64) for s, v in out.items()}


def class_counts(n: int) -> np.ndarray:
    """dmg777k's class proportions over ``n`` monuments (largest remainder; every class at least
    once when n >= 5, taken from the largest)."""
    prior = np.array([c for _, _, c in CLASSES], dtype=float)
    exact = prior / prior.sum() * n
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    if n >= K:
        short = counts == 0
        counts[np.argmax(counts)] -= short.sum()
        counts[short] = 1
    return counts


def _check(n_monuments: int, image_fraction: float, text_fraction: float, signal: dict, splits) -> dict:
    if n_monuments < 10:
        raise ConfigError(f"synthetic graph: n_monuments={n_monuments}; use at least 10")
    for name, v in (("image_fraction", image_fraction), ("text_fraction", text_fraction)):
        if not 0 <= v <= 1:
            raise ConfigError(f"synthetic graph: {name}={v} must lie in [0, 1]")
    unknown = set(signal) - set(MODALITIES)
    if unknown:
        raise ConfigError(f"synthetic graph: unknown signal modalities {sorted(unknown)}; use {MODALITIES}")
    merged = {**DEFAULT_SIGNAL, **{k: float(v) for k, v in signal.items()}}
    if not all(0 <= v <= 1 for v in merged.values()):
        raise ConfigError(f"synthetic graph: signal values must lie in [0, 1], got {merged}")
    if len(splits) != 3 or min(splits) <= 0 or abs(sum(splits) - 1) > 1e-6:
        raise ConfigError(f"synthetic graph: splits={splits} must be three positive fractions summing to 1")
    return merged


# --------------------------------------------------------------------------------------- images
_WALLS = ((150, 60, 45), (120, 80, 50), (190, 190, 185), (230, 228, 220), (200, 170, 110), (95, 90, 95))
_ROOFS = ((60, 40, 35), (110, 40, 30), (50, 50, 60), (140, 90, 50), (40, 60, 45))


def _jitter(rng, rgb, amount=25) -> tuple[int, int, int]:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in rgb)


def draw_building(cls: int, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """An RGB ``size`` x ``size`` picture of a class-``cls`` building silhouette with random colours,
    position, scale, flip, trees, clouds and pixel noise (drawn at twice the size, then reduced)."""
    s = 2 * size
    sky = _jitter(rng, (150, 190, 235) if rng.random() < 0.7 else (175, 180, 185), 30)
    img = Image.new("RGB", (s, s), sky)
    d = ImageDraw.Draw(img)
    base = s * rng.uniform(0.74, 0.86)
    d.rectangle((0, base, s, s), fill=_jitter(rng, (90, 130, 60) if rng.random() < 0.7 else (130, 110, 80), 25))
    for _ in range(rng.integers(0, 3)):
        x, y, r = s * rng.uniform(0, 1), s * rng.uniform(0.05, 0.3), s * rng.uniform(0.05, 0.12)
        d.ellipse((x - 2 * r, y - r, x + 2 * r, y + r), fill=_jitter(rng, (235, 235, 240), 15))
    u = s * rng.uniform(0.75, 1.0)
    cx = s * rng.uniform(0.4, 0.6)
    wall, roof = _jitter(rng, _WALLS[rng.integers(len(_WALLS))]), _jitter(rng, _ROOFS[rng.integers(len(_ROOFS))])
    dark = _jitter(rng, (35, 30, 30), 10)
    if cls == 0:  # house: body under a pitched roof, door and windows
        w, h = 0.34 * u, 0.3 * u
        d.rectangle((cx - w / 2, base - h, cx + w / 2, base), fill=wall)
        d.polygon([(cx - w / 2 - 0.03 * u, base - h), (cx + w / 2 + 0.03 * u, base - h), (cx, base - h - 0.24 * u)],
                  fill=roof)
        d.rectangle((cx - 0.03 * u, base - 0.13 * u, cx + 0.03 * u, base), fill=dark)
        for dx in (-0.11, 0.07):
            d.rectangle((cx + dx * u, base - 0.22 * u, cx + (dx + 0.05) * u, base - 0.16 * u), fill=dark)
    elif cls == 1:  # farm building: wide, low, big roof, barn door
        w, h = 0.8 * u, 0.16 * u
        d.rectangle((cx - w / 2, base - h, cx + w / 2, base), fill=wall)
        d.polygon([(cx - w / 2 - 0.03 * u, base - h), (cx + w / 2 + 0.03 * u, base - h),
                   (cx + w / 2 - 0.14 * u, base - h - 0.2 * u), (cx - w / 2 + 0.14 * u, base - h - 0.2 * u)], fill=roof)
        d.rectangle((cx - 0.08 * u, base - 0.13 * u, cx + 0.08 * u, base), fill=dark)
    elif cls == 2:  # church: nave plus a tower with a spire on one side
        side = 1 if rng.random() < 0.5 else -1
        w, h = 0.44 * u, 0.22 * u
        d.rectangle((cx - w / 2, base - h, cx + w / 2, base), fill=wall)
        d.polygon([(cx - w / 2, base - h), (cx + w / 2, base - h), (cx, base - h - 0.12 * u)], fill=roof)
        tx = cx + side * (w / 2 - 0.05 * u)
        d.rectangle((tx - 0.065 * u, base - 0.5 * u, tx + 0.065 * u, base), fill=wall)
        d.polygon([(tx - 0.08 * u, base - 0.5 * u), (tx + 0.08 * u, base - 0.5 * u), (tx, base - 0.82 * u)], fill=roof)
    elif cls == 3:  # mill: tapering body, cap, four sails at a random angle
        h = 0.42 * u
        d.polygon([(cx - 0.12 * u, base), (cx + 0.12 * u, base), (cx + 0.06 * u, base - h), (cx - 0.06 * u, base - h)],
                  fill=wall)
        d.pieslice((cx - 0.08 * u, base - h - 0.08 * u, cx + 0.08 * u, base - h + 0.08 * u), 180, 360, fill=roof)
        hx, hy, a0 = cx, base - h - 0.02 * u, rng.uniform(0, np.pi / 2)
        for k in range(4):
            a = a0 + k * np.pi / 2
            ca, sa = np.cos(a), np.sin(a)
            length, half = 0.4 * u, 0.035 * u
            pts = [(hx - sa * half, hy + ca * half), (hx + sa * half, hy - ca * half),
                   (hx + ca * length + sa * half, hy + sa * length - ca * half),
                   (hx + ca * length - sa * half, hy + sa * length + ca * half)]
            d.polygon(pts, fill=dark)
    else:  # castle: wide body, two towers, crenellations everywhere, gate
        w, h, tw, th = 0.56 * u, 0.3 * u, 0.14 * u, 0.46 * u
        d.rectangle((cx - w / 2, base - h, cx + w / 2, base), fill=wall)
        merlon = 0.045 * u
        for x0, x1, top in ((cx - w / 2, cx + w / 2, base - h), (cx - w / 2 - tw / 2, cx - w / 2 + tw / 2, base - th),
                            (cx + w / 2 - tw / 2, cx + w / 2 + tw / 2, base - th)):
            if top < base - h:
                d.rectangle((x0, top, x1, base), fill=wall)
            x = x0
            while x + merlon <= x1 + 1e-6:
                d.rectangle((x, top - merlon, x + merlon, top), fill=wall)
                x += 2 * merlon
        d.pieslice((cx - 0.07 * u, base - 0.2 * u, cx + 0.07 * u, base - 0.06 * u), 180, 360, fill=dark)
        d.rectangle((cx - 0.07 * u, base - 0.13 * u, cx + 0.07 * u, base), fill=dark)
    if rng.random() < 0.5:  # a tree beside the building
        tx = s * (rng.uniform(0.02, 0.18) if rng.random() < 0.5 else rng.uniform(0.82, 0.98))
        r = s * rng.uniform(0.06, 0.11)
        d.rectangle((tx - 0.015 * s, base - 2 * r, tx + 0.015 * s, base), fill=(80, 55, 35))
        d.ellipse((tx - r, base - 3.5 * r, tx + r, base - 1.5 * r), fill=_jitter(rng, (50, 110, 45), 20))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    arr = np.asarray(img.resize((size, size), Image.BOX), dtype=np.float32)
    arr += rng.normal(0, rng.uniform(3, 12), arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def describe(cls: int, lang: str, rng: np.random.Generator) -> str:
    """A description with one phrase of class ``cls`` and one to three neutral filler sentences."""
    phrase = PHRASES[lang][cls][rng.integers(len(PHRASES[lang][cls]))]
    templates, fillers = TEMPLATES[lang], FILLERS[lang]
    sentence = templates[rng.integers(len(templates))].format(p=phrase)
    parts = [fillers[i] for i in rng.choice(len(fillers), size=rng.integers(1, 4), replace=False)]
    parts.insert(int(rng.integers(len(parts) + 1)), sentence)
    return " ".join(parts)


def _names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct Dutch-sounding place names."""
    combos = [a + b for a in _SYLLABLES for b in _SUFFIXES]
    picks = rng.permutation(len(combos))
    return [combos[picks[i % len(combos)]] + ("" if i < len(combos) else f" {i // len(combos) + 1}")
            for i in range(n)]


def _points(rng: np.random.Generator, cls: np.ndarray) -> np.ndarray:
    """(n, 2) lon/lat drawn from each class's regions, clipped to the Netherlands' box."""
    out = np.empty((len(cls), 2))
    for c in range(K):
        sel = np.flatnonzero(cls == c)
        reg = np.array(REGIONS[c])[rng.integers(len(REGIONS[c]), size=len(sel))]
        out[sel] = reg[:, :2] + rng.normal(size=(len(sel), 2)) * reg[:, 2:3]
    out[:, 0] = np.clip(out[:, 0], NL_BOX[0], NL_BOX[2])
    out[:, 1] = np.clip(out[:, 1], NL_BOX[1], NL_BOX[3])
    return out


def _nearest(points: np.ndarray, centres: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Index of the nearest centre of each point (in chunks: bounded memory for large graphs)."""
    return np.concatenate([((points[i:i + chunk, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
                           for i in range(0, len(points), chunk)] or [np.zeros(0, np.int64)])


def _wkt(lon: float, lat: float) -> str:
    return f"POINT({lon:.6f} {lat:.6f})"


# ------------------------------------------------------------------------------------ generate
@dataclass
class _World:
    """The entities around the monuments (node ids into the graph), and what ties them to classes."""

    names: list[str]
    n_mun: int
    municipalities: list[int]
    places: list[int]
    place_xy: np.ndarray
    place_mun: np.ndarray
    streets: list[int]
    streets_of: list[np.ndarray]
    functions: list[list[int]] = field(default_factory=list)
    styles: list[int] = field(default_factory=list)
    materials: list[int] = field(default_factory=list)
    periods: list[int] = field(default_factory=list)
    architects: list[int] = field(default_factory=list)
    organisations: list[int] = field(default_factory=list)
    photographers: list[int] = field(default_factory=list)
    complexes: list[int] = field(default_factory=list)
    arch_cls: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    org_cls: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cx_cls: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _geography(g: _Graph, rng: np.random.Generator, n_monuments: int) -> _World:
    """Provinces, municipalities, places (with WKT points) and streets."""
    prov_xy = np.array([(x, yy) for _, x, yy in PROVINCES])
    provinces = []
    for name, _, _ in PROVINCES:
        p = g.typed(f"{ID}provincie/{name.lower()}", "Provincie")
        g.add(p, RDFS + "label", g.node(name, STRING_DT))
        provinces.append(p)
    n_mun, n_place = max(12, n_monuments // 20), max(20, n_monuments // 8)
    names = _names(rng, n_mun + n_place)
    mun_xy = np.column_stack([rng.uniform(NL_BOX[0], NL_BOX[2], n_mun), rng.uniform(NL_BOX[1], NL_BOX[3], n_mun)])
    mun_prov = _nearest(mun_xy, prov_xy)
    municipalities = []
    for k in range(n_mun):
        m = g.typed(f"{ID}gemeente/GM{k:04d}", "Gemeente")
        g.add(m, RDFS + "label", g.node(names[k], STRING_DT))
        g.add(m, CEO + "cbsCode", g.node(f"GM{k:04d}", STRING_DT))
        g.add(m, CEO + "inwonertal", g.node(str(int(rng.lognormal(10, 0.8)) + 1), PINT_DT))
        g.add(m, CEO + "ligtInProvincie", provinces[mun_prov[k]])
        municipalities.append(m)
    place_mun = rng.integers(n_mun, size=n_place)
    place_xy = mun_xy[place_mun] + rng.normal(0, 0.05, (n_place, 2))
    places = []
    for k in range(n_place):
        p = g.typed(f"{ID}woonplaats/{k}", "Woonplaats")
        g.add(p, RDFS + "label", g.node(names[n_mun + k], STRING_DT))
        g.add(p, CEO + "ligtInGemeente", municipalities[place_mun[k]])
        geom = g.typed(f"_:geo-woonplaats-{k}", "Geometrie", blank=True)
        g.add(p, GEO + "hasGeometry", geom)
        g.add(geom, GEO + "asWKT", g.node(_wkt(*place_xy[k]), WKT_DT))
        places.append(p)
    n_street = max(30, n_monuments // 3)
    street_place = rng.integers(n_place, size=n_street)
    streets = []
    for k in range(n_street):
        s = g.typed(f"{ID}straat/{k}", "Straat")
        g.add(s, RDFS + "label", g.node(_STREETS[rng.integers(len(_STREETS))], STRING_DT))
        g.add(s, CEO + "ligtInWoonplaats", places[street_place[k]])
        streets.append(s)
    streets_of = [np.flatnonzero(street_place == k) for k in range(n_place)]
    return _World(names, n_mun, municipalities, places, place_xy, place_mun, streets, streets_of)


def _concepts(g: _Graph, w: _World) -> None:
    """Functions, styles, materials and periods (SKOS concepts)."""
    def concept(kind: str, slug: str, nl: str, en: str, scheme: str) -> int:
        c = g.typed(f"{ID}{kind.lower()}/{slug}", kind)
        g.add(c, SKOS + "prefLabel", g.node(nl, "@nl"))
        g.add(c, SKOS + "altLabel", g.node(en, "@en"))
        g.add(c, SKOS + "inScheme", g.iri(f"{ID}schema/{scheme}"))
        return c

    for c, (category, *members) in enumerate(FUNCTIONS):
        top = concept("Functie", f"categorie-{c}", *category, "functies")
        w.functions.append([concept("Functie", nl.replace(" ", "-"), nl, en, "functies") for nl, en in members])
        for f in w.functions[-1]:
            g.add(f, SKOS + "broader", top)
    w.styles = [concept("Bouwstijl", nl.lower().replace(" ", "-"), nl, en, "stijlen") for nl, en, _ in STYLES]
    for k, (_, en, parent) in enumerate(STYLES):
        g.add(w.styles[k], RDFS + "comment", g.node(f"Architectural style: {en}.", "@en"))
        if parent is not None:
            g.add(w.styles[k], SKOS + "broader", w.styles[parent])
    w.materials = [concept("Materiaal", m, m, m, "materialen") for m in MATERIALS]
    for name, lo, hi in PERIODS:
        p = concept("Periode", name.lower().replace(" ", "-"), name, name, "perioden")
        g.add(p, CEO + "periodeBegin", g.node(str(lo), GYEAR_DT))
        g.add(p, CEO + "periodeEind", g.node(str(hi), GYEAR_DT))
        w.periods.append(p)


def _agents(g: _Graph, rng: np.random.Generator, w: _World, n_monuments: int) -> None:
    """Architects, organisations, photographers and complexes, each tied to a class."""
    n_arch, n_org, n_cx = max(10, n_monuments // 25), max(8, n_monuments // 40), max(5, n_monuments // 30)
    w.arch_cls, w.org_cls, w.cx_cls = (rng.integers(K, size=n) for n in (n_arch, n_org, n_cx))
    for k in range(n_arch):
        a = g.typed(f"{ID}architect/{k}", "Architect")
        g.add(a, RDFS + "label", g.node(f"{_FIRST[rng.integers(len(_FIRST))]} {_LAST[rng.integers(len(_LAST))]}",
                                        STRING_DT))
        g.add(a, CEO + "geboortejaar", g.node(str(int(rng.integers(1550, 1930))), GYEAR_DT))
        w.architects.append(a)
    for k in range(n_org + 4):
        o = g.typed(f"{ID}organisatie/{k}", "Organisatie")
        kind = "Fotodienst" if k >= n_org else ("Stichting", "Vereniging", "Gemeente")[k % 3]
        g.add(o, RDFS + "label", g.node(f"{kind} {w.names[rng.integers(len(w.names))]} {k}", STRING_DT))
        g.add(o, SDO + "url", g.node(f"https://www.organisatie-{k}.nl/", ANYURI_DT))
        (w.organisations if k < n_org else w.photographers).append(o)
    for k in range(n_cx):
        c = g.typed(f"{ID}complex/{500000 + k}", "Complex")
        g.add(c, CEO + "complexnummer", g.node(str(500000 + k), NNINT_DT))
        w.complexes.append(c)


def _of_class(rng: np.random.Generator, cls_of: np.ndarray, c: int) -> int:
    """A random member of a class-tied pool (any member when the class has none)."""
    pool = np.flatnonzero(cls_of == c)
    return int(rng.choice(pool)) if len(pool) else int(rng.integers(len(cls_of)))


def _monument_record(g: _Graph, rng: np.random.Generator, w: _World, nr: int) -> int:
    """The monument node with its register fields (number, URL, date, flags, parcel): no signal."""
    m = g.typed(f"{ID}monument/{nr}", "Rijksmonument")
    g.add(m, CEO + "monumentnummer", g.node(str(nr), NNINT_DT))
    g.add(m, CEO + "registerURL", g.node(f"https://monumentenregister.cultureelerfgoed.nl/monumenten/{nr}",
                                         ANYURI_DT))
    g.add(m, CEO + "registratiedatum", g.node(f"{rng.integers(1965, 2011)}-{rng.integers(1, 13):02d}-"
                                              f"{rng.integers(1, 29):02d}", DATE_DT))
    g.add(m, CEO + "zichtbaarVanafOpenbareWeg", g.node("true" if rng.random() < 0.8 else "false", BOOLEAN_DT))
    g.add(m, CEO + "inBeschermdGezicht", g.node("true" if rng.random() < 0.3 else "false", BOOLEAN_DT))
    g.add(m, CEO + "kadastraalPerceel", g.node(f"{w.names[rng.integers(len(w.names))][:3].upper()}00 "
                                               f"{chr(65 + rng.integers(26))} {rng.integers(1, 9999)}", STRING_DT))
    return m


def _address(g: _Graph, rng: np.random.Generator, w: _World, m: int, nr: int, p: int, xy: np.ndarray) -> None:
    """Address and location (the spatial modality): street, number, postcode, place, municipality, WKT."""
    adr = g.typed(f"_:adres-{nr}", "Adres", blank=True)
    g.add(m, CEO + "heeftAdres", adr)
    pool = w.streets_of[p]
    street = w.streets[int(rng.choice(pool))] if len(pool) else w.streets[int(rng.integers(len(w.streets)))]
    g.add(adr, CEO + "heeftStraat", street)
    g.add(adr, CEO + "huisnummer", g.node(f"{rng.integers(1, 200)}{'a' if rng.random() < 0.1 else ''}", "none"))
    g.add(adr, CEO + "postcode", g.node(f"{rng.integers(1000, 10000)} {chr(65 + rng.integers(26))}"
                                        f"{chr(65 + rng.integers(26))}", STRING_DT))
    g.add(adr, CEO + "ligtInWoonplaats", w.places[p])
    g.add(m, CEO + "ligtInGemeente", w.municipalities[w.place_mun[p]])
    geom = g.typed(f"_:geo-monument-{nr}", "Geometrie", blank=True)
    g.add(m, GEO + "hasGeometry", geom)
    g.add(geom, GEO + "asWKT", g.node(_wkt(*xy), WKT_DT))


def _structure(g: _Graph, rng: np.random.Generator, w: _World, m: int, c: int) -> None:
    """The structure modality: functions of class ``c``, a preferred style and materials, agents, a complex."""
    fs = rng.permutation(len(w.functions[c]))
    g.add(m, CEO + "heeftFunctie", w.functions[c][fs[0]])
    if rng.random() < 0.4:
        g.add(m, CEO + "oorspronkelijkeFunctie", w.functions[c][fs[1]])
    pref = STYLE_PREFS[c]
    style = pref[rng.integers(len(pref))] if rng.random() < 0.7 else rng.integers(len(w.styles))
    g.add(m, CEO + "heeftBouwstijl", w.styles[style])
    for k in rng.choice(len(MATERIALS), size=rng.integers(1, 3), replace=False):
        pref = MATERIAL_PREFS[c]
        g.add(m, CEO + "heeftMateriaal", w.materials[pref[k % len(pref)] if rng.random() < 0.6 else k])
    if rng.random() < 0.3:
        g.add(m, CEO + "heeftArchitect", w.architects[_of_class(rng, w.arch_cls, c)])
    if rng.random() < 0.5:
        g.add(m, CEO + "heeftEigenaar", w.organisations[_of_class(rng, w.org_cls, c)])
    if rng.random() < 0.25:
        g.add(m, CEO + "onderdeelVan", w.complexes[_of_class(rng, w.cx_cls, c)])


def _height_and_year(g: _Graph, rng: np.random.Generator, w: _World, m: int, height_cls, year_cls) -> None:
    """The number and date modalities: a height drawn for class ``height_cls`` and a construction
    year (and its period) for class ``year_cls``; None leaves it out."""
    if height_cls is not None:
        med, sd = HEIGHT[height_cls]
        g.add(m, CEO + "hoogte", g.node(str(max(1, int(round(med * np.exp(rng.normal(0, sd)))))), PINT_DT))
    if year_cls is not None:
        mu, sd = YEAR[year_cls]
        year = int(np.clip(round(rng.normal(mu, sd)), 1000, 1990))
        g.add(m, CEO + "bouwjaar", g.node(str(year), GYEAR_DT))
        period = next(k for k, (_, lo, hi) in enumerate(PERIODS) if lo <= year <= hi)
        g.add(m, CEO + "heeftPeriode", w.periods[period])


def _images(g: _Graph, rng: np.random.Generator, w: _World, m: int, nr: int, c: int, image_size: int) -> int:
    """The image modality: one or two building pictures of class ``c``; returns how many."""
    n = 1 + (rng.random() < SECOND_IMAGE)
    for k in range(n):
        res = g.typed(f"_:afbeelding-{nr}-{k}", "Afbeelding", blank=True)
        g.add(m, CEO + "heeftAfbeelding", res)
        png = kgb.encode_image(draw_building(c, rng, image_size))
        g.add(res, CEO + "afbeelding", g.node(png, IMAGE_DT))
        g.add(res, SDO + "contentUrl", g.node(f"https://images.cultureelerfgoed.nl/{nr}-{k}.png", ANYURI_DT))
        g.add(res, DCT + "creator", w.photographers[rng.integers(len(w.photographers))])
        g.add(res, DCT + "created", g.node(str(int(rng.integers(1950, 2021))), GYEAR_DT))
    return int(n)


def _monuments(g: _Graph, rng: np.random.Generator, w: _World, apparent: dict[str, np.ndarray], n_monuments: int,
               image_fraction: float, text_fraction: float, image_size: int) -> tuple[np.ndarray, int, int]:
    """Every monument with what each modality shows of its apparent class; returns the monuments'
    node ids, the number of images and the number of texts."""
    xy = _points(rng, apparent["spatial"])
    mon_place = _nearest(xy, w.place_xy)
    numbers = rng.choice(np.arange(1, 540000), size=n_monuments, replace=False)
    has_image = rng.random(n_monuments) < image_fraction
    has_text = rng.random(n_monuments) < text_fraction
    has_height = rng.random(n_monuments) < NUMBER_FRACTION
    has_year = rng.random(n_monuments) < DATE_FRACTION
    lang_idx = rng.choice(len(LANGUAGES), size=n_monuments, p=[p for _, _, p in LANGUAGES])
    targets = np.empty(n_monuments, dtype=np.int64)
    n_images = 0
    for i in tqdm(range(n_monuments), desc="monuments", disable=None):
        nr = int(numbers[i])
        m = targets[i] = _monument_record(g, rng, w, nr)
        p = int(mon_place[i])
        _address(g, rng, w, m, nr, p, xy[i])
        _structure(g, rng, w, m, int(apparent["structure"][i]))
        _height_and_year(g, rng, w, m, apparent["number"][i] if has_height[i] else None,
                         apparent["date"][i] if has_year[i] else None)
        if has_text[i]:  # the text modality
            annotation, lang, _ = LANGUAGES[lang_idx[i]]
            g.add(m, CEO + "omschrijving", g.node(describe(int(apparent["text"][i]), lang, rng), annotation))
        g.add(m, RDFS + "label", g.node(f"{_STREETS[rng.integers(len(_STREETS))]} {rng.integers(1, 200)}, "
                                        f"{w.names[w.n_mun + p]}", STRING_DT))
        if has_image[i]:
            n_images += _images(g, rng, w, m, nr, int(apparent["image"][i]), image_size)
    return targets, n_images, int(has_text.sum())


def generate(root: str | os.PathLike, *, n_monuments: int = 1200, seed: int = 0, image_size: int = 32,
             image_fraction: float = 0.8, text_fraction: float = 0.9, signal: dict[str, float] | None = None,
             splits: tuple[float, float, float] = DEFAULT_SPLITS) -> dict:
    """Write a synthetic dmg777k-style dataset (kgbench layout + synthetic.json) to ``root`` and
    return its metadata. Deterministic in ``seed``; see the module docstring for the design."""
    signal = _check(n_monuments, image_fraction, text_fraction, signal or {}, splits)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    g = _Graph()
    counts = class_counts(n_monuments)
    y = rng.permutation(np.repeat(np.arange(K), counts))
    apparent = {m: np.where(rng.random(n_monuments) < signal[m], y, rng.integers(K, size=n_monuments))
                for m in MODALITIES}
    w = _geography(g, rng, n_monuments)
    _concepts(g, w)
    _agents(g, rng, w, n_monuments)
    targets, n_images, n_texts = _monuments(g, rng, w, apparent, n_monuments, image_fraction, text_fraction,
                                            image_size)

    root = Path(root)
    n_triples, sizes = sorted_write(root, g.nodes, list(RELATIONS), np.array(g.triples, dtype=np.int64), targets, y,
                          splits, rng)
    annotations = Counter(a for _, a in g.nodes)
    n_entities = sum(annotations[a] for a in kgb.ENTITY_ANNOTATIONS)
    meta = {
        "kind": "synthetic dmg777k-style graph (saidl.multimodal.synth.generate)",
        "classes": [{"index": k, "iri": CLASS_IRIS[k], "name_nl": nl, "name_en": en, "count": int(counts[k])}
                    for k, (nl, en, _) in enumerate(CLASSES)],
        "target_type": MONUMENT,
        "params": {"n_monuments": n_monuments, "seed": seed, "image_size": image_size,
                   "image_fraction": image_fraction, "text_fraction": text_fraction, "signal": signal,
                   "splits": list(splits), "number_fraction": NUMBER_FRACTION, "date_fraction": DATE_FRACTION,
                   "second_image": SECOND_IMAGE},
        "modality_relations": MODALITY_RELATIONS,
        "counts": {"nodes": len(g.nodes), "entities": n_entities, "literals": len(g.nodes) - n_entities,
                   "relations": len(RELATIONS), "triples": n_triples, "monuments": n_monuments,
                   "images": n_images, "texts": n_texts, "splits": sizes,
                   "annotations": dict(sorted(annotations.items()))},
    }
    write_json(root / "synthetic.json", meta)
    log.info("synthetic graph: %d monuments, %d nodes, %d triples, %d images in %.1fs -> %s", n_monuments,
             len(g.nodes), n_triples, n_images, time.perf_counter() - t0, root)
    return meta
