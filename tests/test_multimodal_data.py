"""The kgbench loader/writer, the synthetic dmg777k-style graph and the dmg777k download cache."""

from __future__ import annotations

import base64
import io
import logging
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saidl.common.errors import DataError
from saidl.multimodal import download, kgbench, synth
from saidl.multimodal.kgbench import (ANYURI_DT, BOOLEAN_DT, DATE_DT, GYEAR_DT, IMAGE_DT, NNINT_DT, PINT_DT,
                                      STRING_DT, WKT_DT)


def _png(seed: int, size=(7, 5)) -> tuple[str, np.ndarray]:
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return kgbench.encode_image(Image.fromarray(arr)), arr


PNG_A, PIX_A = _png(0)
PNG_B, PIX_B = _png(1, (3, 9))
JPEG = kgbench.encode_image(Image.new("RGB", (6, 6), (200, 10, 10)), fmt="JPEG")
BROKEN = base64.urlsafe_b64encode(b"not an image at all").decode()
NODES = [
    ("http://example.org/monument/1", "iri"),
    ("_:b1", "blank_node"),
    ('He said "hi", then\nleft', STRING_DT),
    ('line one\r\nline "two", three', "@nl"),
    ("tab\tand, comma", "@en"),
    ("", STRING_DT),
    ("kasteelruïne ✓", "@nl"),
    ('x\n7,"http://kgbench.info/dt#base64Image","AAAA"', STRING_DT),  # looks like an image row inside a label
    ("plain", "none"),
    ("1850", GYEAR_DT),
    ("2001-02-03", DATE_DT),
    ("true", BOOLEAN_DT),
    ("https://x.org/?a=1,b=\"2\"", ANYURI_DT),
    ("0", NNINT_DT),
    ("12", PINT_DT),
    ("POINT(4.9 52.37)", WKT_DT),
    (PNG_A, IMAGE_DT),
    (PNG_B, IMAGE_DT),
    (JPEG, IMAGE_DT),
    (BROKEN, IMAGE_DT),
    ("http://example.org/monument/2", "iri"),
    ("http://example.org/monument/3", "iri"),
]
RELATIONS = ["http://example.org/p", "http://example.org/q,with,commas", 'http://example.org/"quoted"']
TRIPLES = np.array([[0, 0, i] for i in range(2, 20)] + [[0, 1, 1], [20, 2, 0], [21, 0, 16]])
SPLITS = {"training": np.array([[0, 1], [20, 0]]), "validation": np.array([[21, 2]]),
          "testing": np.zeros((0, 2), dtype=np.int64)}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kg") / "toy"
    kgbench.write(root, NODES, RELATIONS, TRIPLES, SPLITS)
    return root


# ------------------------------------------------------------------------------------ kgbench
def test_roundtrip_every_datatype(toy):
    kg = kgbench.load(toy, progress=False)
    assert kg.num_entities == len(NODES) and kg.num_relations == 3 and kg.num_classes == 3
    assert [kg.i2e[i] for i in range(len(NODES))] == NODES
    assert kg.i2e[-1] == NODES[-1] and kg.i2e[2:4] == NODES[2:4]
    assert kg.i2r == RELATIONS and kg.r2i[RELATIONS[1]] == 1
    assert np.array_equal(kg.triples, TRIPLES) and kg.triples.dtype == np.int64
    for name, split in SPLITS.items():
        assert np.array_equal(getattr(kg, name), split.reshape(-1, 2))
    assert np.array_equal(kg.withheld(), SPLITS["validation"]) and len(kg.withheld(final=True)) == 0
    assert kg.nodetypes == sorted({a for _, a in NODES})
    assert set(kg.datatypes()) == {a for _, a in NODES}


def test_e2i_inverts_i2e(toy):
    kg = kgbench.load(toy, progress=False)
    assert len(kg.e2i) == kg.num_entities
    for i in range(kg.num_entities):
        assert kg.e2i[kg.i2e[i]] == i
    assert list(kg.e2i) == NODES
    assert ("plain", "@nl") not in kg.e2i and (PNG_A + "A", IMAGE_DT) not in kg.e2i and "x" not in kg.e2i


def test_datatype_maps(toy):
    kg = kgbench.load(toy, progress=False)
    strings = kg.datatype_l2g(STRING_DT)
    expected = [i for i, (_, a) in enumerate(NODES) if a in (STRING_DT, "none") or a.startswith("@")]
    assert strings.tolist() == expected
    assert kg.get_strings(STRING_DT) == [NODES[i][0] for i in expected]
    g2l = kg.datatype_g2l(IMAGE_DT)
    assert g2l[kg.datatype_l2g(IMAGE_DT)].tolist() == [0, 1, 2, 3] and (g2l >= 0).sum() == 4
    assert kg.get_strings(WKT_DT) == ["POINT(4.9 52.37)"]
    with pytest.raises(ValueError, match="iter_images"):
        kg.get_strings(IMAGE_DT)


def test_iter_images_streams_and_blackens_broken(toy, caplog):
    kg = kgbench.load(toy, progress=False)
    with caplog.at_level(logging.WARNING, logger="saidl.multimodal.kgbench"):
        images = list(kg.iter_images())
    assert np.array_equal(np.asarray(images[0]), PIX_A) and np.array_equal(np.asarray(images[1]), PIX_B)
    assert images[2].size == (6, 6) and images[2].mode == "RGB"
    assert images[3].size == (1, 1) and np.asarray(images[3]).max() == 0
    assert [r.getMessage() for r in caplog.records if "could not be decoded" in r.getMessage()][0].startswith("1 ")
    first = next(iter(kg.iter_images([17], size=4)))
    assert first.size == (4, 4)
    assert [im.size for im in kg.iter_images([19, 16], size=3)] == [(3, 3), (3, 3)]
    with pytest.raises(ValueError, match="not an image"):
        list(kg.iter_images([0]))


def test_multiline_labels_across_blocks(toy, monkeypatch):
    monkeypatch.setattr(kgbench, "_BLOCK_BYTES", 1)   # one line per block
    monkeypatch.setattr(kgbench, "_BLOCK_ROWS", 2)
    kg = kgbench.load(toy, progress=False)
    assert [kg.i2e[i] for i in range(len(NODES))] == NODES


def test_files_match_kgbench_loader_layout(toy):
    """What kgbench-loader 0.2.0 (pandas read_csv, np.loadtxt, its fastload) reads from our files."""
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(toy / "nodes.int.csv", na_values=[], keep_default_na=False)
    assert list(df.columns) == ["index", "annotation", "label"]
    assert list(zip(df["label"], df["annotation"])) == NODES
    rel = pd.read_csv(toy / "relations.int.csv", na_values=[], keep_default_na=False)
    assert rel["label"].tolist() == RELATIONS
    assert (toy / "nodes.int.csv").read_text().startswith('"index","annotation","label"\n0,"iri","http')
    assert (toy / "relations.int.csv").read_text().startswith('"index","label"\n0,"http')
    assert (toy / "nodetypes.int.csv").read_text().startswith("index,annotation\n0,")
    assert (toy / "training.int.csv").read_text() == "instance,cls\n0,1\n20,0\n"
    train = np.loadtxt(toy / "training.int.csv", dtype=np.int32, delimiter=",", skiprows=1)
    assert np.array_equal(train, SPLITS["training"])
    import gzip
    with gzip.open(toy / "triples.int.csv.gz", "rt") as fh:
        assert np.array_equal(np.asarray([[int(x) for x in line.split(",")] for line in fh]), TRIPLES)


def test_reads_files_written_like_kgbench_hdt2csv(tmp_path):
    """pbloem/kgbench-data scripts/hdt2csv.py: pandas QUOTE_NONNUMERIC nodes/relations, pandas
    nodetypes, "s, p, o" triples, csv.writer splits (\\r\\n line ends)."""
    pd = pytest.importorskip("pandas")
    import csv
    import gzip
    root = tmp_path / "hdt2csv"
    root.mkdir()
    nodetypes = sorted({a for _, a in NODES})
    pd.DataFrame(enumerate(nodetypes), columns=["index", "annotation"]).to_csv(
        root / "nodetypes.int.csv", index=False, header=True)
    pd.DataFrame([(i, a, label) for i, (label, a) in enumerate(NODES)], columns=["index", "annotation", "label"]
                 ).to_csv(root / "nodes.int.csv", index=False, header=True, quoting=csv.QUOTE_NONNUMERIC)
    pd.DataFrame(enumerate(RELATIONS), columns=["index", "label"]).to_csv(
        root / "relations.int.csv", index=False, header=True, quoting=csv.QUOTE_NONNUMERIC)
    with gzip.open(root / "triples.int.csv.gz", "wt") as fh:
        fh.writelines(f"{s}, {p}, {o}\n" for s, p, o in TRIPLES.tolist())
    for name, rows in SPLITS.items():
        with open(root / f"{name}.int.csv", "w") as fh:
            w = csv.writer(fh, delimiter=",")
            w.writerow(["index", "class"])
            w.writerows(rows.tolist())
    kg = kgbench.load(root, progress=False)
    assert [kg.i2e[i] for i in range(len(NODES))] == NODES and kg.i2r == RELATIONS
    assert np.array_equal(kg.triples, TRIPLES) and np.array_equal(kg.training, SPLITS["training"])


def test_missing_and_bad_files(toy, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        kgbench.load(tmp_path / "nowhere")
    for name in ("nodes.int.csv", "triples.int.csv.gz", "testing.int.csv"):
        copy = tmp_path / name
        kgbench.write(copy, NODES, RELATIONS, TRIPLES, SPLITS)
        (copy / name).unlink()
        with pytest.raises(DataError, match=f"{name} is missing"):
            kgbench.load(copy)
    bad = tmp_path / "bad"
    kgbench.write(bad, NODES, RELATIONS, TRIPLES, SPLITS)
    (bad / "triples.int.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="triples.int.csv.gz"):
        kgbench.load(bad, progress=False)
    kgbench.write(bad, NODES, RELATIONS, np.array([[0, 0, 1]]), SPLITS)
    import gzip
    (bad / "triples.int.csv.gz").write_bytes(gzip.compress(b"0, 0, 99\n"))
    with pytest.raises(DataError, match="outside"):
        kgbench.load(bad, progress=False)
    kgbench.write(bad, NODES, RELATIONS, TRIPLES, SPLITS)
    text = (bad / "nodes.int.csv").read_text()
    (bad / "nodes.int.csv").write_text(text.replace('"http://example.org/monument/3"', '"plain"', 1)
                                       .replace('21,"iri","plain"', '21,"none","plain"'))
    with pytest.raises(DataError, match="same literal"):
        kgbench.load(bad, progress=False)
    kgbench.write(bad, NODES, RELATIONS, TRIPLES, SPLITS)
    (bad / "validation.int.csv").write_text("instance,cls\n0,1\n")
    with pytest.raises(DataError, match="disjoint"):
        kgbench.load(bad, progress=False)


def test_write_checks_and_atomic_replace(tmp_path):
    with pytest.raises(ValueError, match="twice"):
        kgbench.write(tmp_path / "d", NODES + [NODES[0]], RELATIONS, TRIPLES, SPLITS)
    with pytest.raises(ValueError, match="overlap"):
        kgbench.write(tmp_path / "d", NODES, RELATIONS, TRIPLES, {**SPLITS, "testing": np.array([[0, 1]])})
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a kgbench dataset"):
        kgbench.write(other, NODES, RELATIONS, TRIPLES, SPLITS)
    assert (other / "precious.txt").exists()
    root = tmp_path / "d"
    kgbench.write(root, NODES, RELATIONS, TRIPLES, SPLITS)
    kgbench.write(root, NODES[:3], RELATIONS, np.array([[0, 0, 2]]), {s: np.zeros((0, 2)) for s in kgbench.SPLITS})
    assert kgbench.load(root, progress=False).num_entities == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "other"]  # no temporary folders left


# ------------------------------------------------------------------------------------- synth
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "demo"
    meta = synth.generate(root)  # the demo defaults: 1,200 monuments
    return meta, kgbench.load(root, progress=False)


def _objects(kg, relation: str) -> dict[int, int]:
    t = kg.triples[kg.triples[:, 1] == kg.r2i[relation]]
    return dict(zip(t[:, 0].tolist(), t[:, 2].tolist()))


def _labelled(kg) -> np.ndarray:
    return np.concatenate([kg.training, kg.validation, kg.testing])


def test_synthetic_graph_shape(demo):
    meta, kg = demo
    assert kg.num_relations >= 30 and kg.num_classes == 5
    assert set(kg.datatypes()) >= {"iri", "blank_node", "none", "@nl", "@en", STRING_DT, GYEAR_DT, DATE_DT,
                                   BOOLEAN_DT, ANYURI_DT, NNINT_DT, PINT_DT, WKT_DT, IMAGE_DT}
    lab = _labelled(kg)
    assert len(lab) == 1200 and np.bincount(lab[:, 1]).tolist() == [c["count"] for c in meta["classes"]]
    monument = kg.e2i[synth.MONUMENT, "iri"]
    typed = {tuple(t) for t in kg.triples[kg.triples[:, 1] == kg.r2i[synth.RDF + "type"]][:, [0, 2]].tolist()}
    assert all((int(m), monument) in typed for m in lab[:, 0])
    for iri in synth.CLASS_IRIS:  # no label triples: the class IRIs are not even nodes
        assert (iri, "iri") not in kg.e2i
    assert meta["counts"]["nodes"] == kg.num_entities and meta["counts"]["triples"] == len(kg.triples)
    assert meta["counts"]["images"] == len(kg.datatype_l2g(IMAGE_DT))
    assert next(kg.iter_images()).size == (32, 32)


def test_synthetic_splits_stratified_and_disjoint(demo):
    _, kg = demo
    parts = [kg.training, kg.validation, kg.testing]
    nodes = np.concatenate([p[:, 0] for p in parts])
    assert len(np.unique(nodes)) == len(nodes)
    counts = np.array([np.bincount(p[:, 1], minlength=5) for p in parts])
    expected = np.outer(synth.DEFAULT_SPLITS, counts.sum(0))
    assert np.abs(counts - expected).max() <= 1 and (counts > 0).all()


def test_synthetic_is_deterministic(tmp_path):
    a = synth.generate(tmp_path / "a", n_monuments=40, seed=3)
    b = synth.generate(tmp_path / "b", n_monuments=40, seed=3)
    c = synth.generate(tmp_path / "c", n_monuments=40, seed=4)
    assert a == b and a != c
    for name in kgbench.DATA_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "nodes.int.csv").read_bytes() != (tmp_path / "c" / "nodes.int.csv").read_bytes()
    assert (tmp_path / "a" / "triples.int.csv.gz").read_bytes()[4:8] == bytes(4)  # gzip mtime 0: reproducible


def test_phrases_are_class_specific():
    for lang, classes in synth.PHRASES.items():
        neutral = " ".join(synth.FILLERS[lang] + synth.TEMPLATES[lang]).lower()
        for c, phrases in enumerate(classes):
            others = [p for k, ps in enumerate(classes) if k != c for p in ps]
            for p in phrases:
                assert p.lower() not in neutral and not any(p in o for o in others), (lang, p)


def test_structure_and_text_signal_fractions(demo):
    """A modality reflects the true class with probability s, else a uniform class: the fraction
    of monuments whose function / description phrase is of their own class is s + (1 - s) / 5."""
    meta, kg = demo
    s = meta["params"]["signal"]
    lab = _labelled(kg)
    func_class = {f"{synth.ID}functie/{nl}": c for c, (_, *members) in enumerate(synth.FUNCTIONS) for nl, _ in members}
    functions = _objects(kg, synth.CEO + "heeftFunctie")
    hits = [func_class[kg.i2e[functions[m]][0]] == y for m, y in lab.tolist()]
    p = s["structure"] + (1 - s["structure"]) / 5
    assert abs(np.mean(hits) - p) < 4 * np.sqrt(p * (1 - p) / len(hits))
    texts = _objects(kg, synth.CEO + "omschrijving")
    hits = []
    for m, y in lab.tolist():
        if m in texts:
            text, annotation = kg.i2e[texts[m]]
            lang = "en" if annotation == "@en" else "nl"
            found = [c for c, ps in enumerate(synth.PHRASES[lang]) if any(ph in text for ph in ps)]
            assert len(found) == 1, text
            hits.append(found[0] == y)
    p = s["text"] + (1 - s["text"]) / 5
    assert len(hits) > 900 and abs(np.mean(hits) - p) < 4 * np.sqrt(p * (1 - p) / len(hits))


def _modality_features(kg) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per modality: (monument classes, one feature row per monument) for monuments that have it."""
    lab = _labelled(kg)
    out = {}
    for name, rel, parse in (("number", synth.CEO + "hoogte", lambda v: [np.log(float(v))]),
                             ("date", synth.CEO + "bouwjaar", lambda v: [float(v)])):
        obj = _objects(kg, rel)
        rows = [(y, parse(kg.i2e[obj[m]][0])) for m, y in lab.tolist() if m in obj]
        out[name] = (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))
    geom, wkt = _objects(kg, synth.GEO + "hasGeometry"), _objects(kg, synth.GEO + "asWKT")
    pts = [[float(v) for v in kg.i2e[wkt[geom[m]]][0][6:-1].split()] for m in lab[:, 0].tolist()]
    out["spatial"] = (lab[:, 1], np.array(pts))
    res, img = _objects(kg, synth.CEO + "heeftAfbeelding"), _objects(kg, synth.CEO + "afbeelding")
    have = [(m, y) for m, y in lab.tolist() if m in res]
    pics = kg.iter_images([img[res[m]] for m, _ in have], size=8)
    out["image"] = (np.array([y for _, y in have]), np.array([np.asarray(p.convert("L"), float).ravel() for p in pics]))
    return out


def _knn_balanced_accuracy(y: np.ndarray, x: np.ndarray, k: int = 7) -> float:
    """k-nearest-neighbour vote (standardised features) fitted on the first half, balanced accuracy
    (mean recall over classes, chance 0.2) on the second half."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    half = len(y) // 2
    near = np.argsort(((x[half:, None, :] - x[None, :half, :]) ** 2).sum(-1), axis=1)[:, :k]
    pred = np.stack([(y[:half][near] == c).sum(1) for c in range(5)], 1).argmax(1)
    return float(np.mean([(pred[y[half:] == c] == c).mean() for c in np.unique(y[half:])]))


def test_each_modality_carries_its_signal(tmp_path):
    """Number, date, coordinates and images alone predict the class (kNN) well above chance with
    signal 1, and at chance with signal 0."""
    acc = {}
    for s in (0.0, 1.0):
        synth.generate(tmp_path / f"s{s}", n_monuments=600, seed=1, image_size=16,
                       signal=dict.fromkeys(synth.MODALITIES, s))
        kg = kgbench.load(tmp_path / f"s{s}", progress=False)
        acc[s] = {m: _knn_balanced_accuracy(*f) for m, f in _modality_features(kg).items()}
    assert min(acc[1.0].values()) > 0.35 and max(acc[0.0].values()) < 0.28, acc


def test_bench_graph_small_scale(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _graphs import bench_graph  # benchmarks/_graphs.py: benchmark-only

    meta = bench_graph(tmp_path / "b", scale=0.01)
    kg = kgbench.load(tmp_path / "b", progress=False)
    assert kg.num_relations == 60 and kg.num_classes == 5
    assert meta["counts"]["entities"] == round(148127 * 0.01)
    assert abs(len(kg.triples) - 777124 * 0.01) < 0.02 * 777124 * 0.01
    assert len(kg.datatype_l2g(IMAGE_DT)) == round(46108 * 0.01)
    assert all(im.size == (16, 16) for im in kg.iter_images(kg.datatype_l2g(IMAGE_DT)[:5]))
    nodes = np.concatenate([kg.training[:, 0], kg.validation[:, 0], kg.testing[:, 0]])
    assert len(nodes) == round(8396 * 0.01) and len(np.unique(nodes)) == len(nodes)


# ---------------------------------------------------------------------------------- download
@pytest.fixture()
def fake_dmg(tmp_path, monkeypatch, toy):
    """A tiny archive standing in for dmg777k.tgz, with the checksum table patched to match it."""
    files = {name: (toy / name).read_bytes() for name in (*kgbench.DATA_FILES, "all.int.csv")}
    archive = tmp_path / "src" / "dmg777k.tgz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    import hashlib
    monkeypatch.setattr(download, "DMG777K_SHA256", {n: hashlib.sha256(d).hexdigest() for n, d in files.items()})
    return archive


def test_fetch_verifies_extracts_and_reuses(fake_dmg, tmp_path):
    cache = tmp_path / "cache"
    root = download.fetch_dmg777k(cache, url=fake_dmg.as_uri(), progress=False)
    assert root == cache / "dmg777k" and kgbench.load(root, progress=False).num_entities == len(NODES)
    assert download.fetch_dmg777k(cache, url="file:///nonexistent/dmg777k.tgz", progress=False) == root
    (root / "relations.int.csv").write_text('"index","label"\n0,"tampered"\n')
    with pytest.raises(DataError, match="relations.int.csv"):
        download.fetch_dmg777k(cache, url="file:///nonexistent/dmg777k.tgz", progress=False)


def test_fetch_tampered_archive_and_no_network(fake_dmg, tmp_path, monkeypatch):
    monkeypatch.setitem(download.DMG777K_SHA256, "nodes.int.csv", "0" * 64)
    with pytest.raises(DataError, match="nodes.int.csv.*differs"):
        download.fetch_dmg777k(tmp_path / "c1", url=fake_dmg.as_uri(), progress=False)
    assert not (tmp_path / "c1" / "dmg777k").exists()
    url = "file:///nonexistent/dmg777k.tgz"
    with pytest.raises(DataError, match="could not download dmg777k from file:///nonexistent") as e:
        download.fetch_dmg777k(tmp_path / "c2", url=url, progress=False)
    assert str(tmp_path / "c2" / "dmg777k.tgz") in str(e.value)
