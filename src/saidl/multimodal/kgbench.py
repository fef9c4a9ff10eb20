"""Reader and writer of the kgbench dataset layout (dmg777k, and the synthetic stand-in).

A dataset folder holds the files that pbloem/kgbench-data's ``scripts/hdt2csv.py`` writes:

- ``nodes.int.csv``: header ``"index","annotation","label"``, strings quoted (``QUOTE_NONNUMERIC``),
  quotes doubled, newlines kept inside the quotes. The annotation is ``iri``, ``blank_node``,
  ``none``, a language tag (``@nl``) or a datatype IRI; images are URL-safe base64 literals with
  the datatype :data:`IMAGE_DT`, one row each.
- ``relations.int.csv``: ``"index","label"`` (quoted); ``nodetypes.int.csv``: ``index,annotation``
  (minimal quoting, the annotations sorted).
- ``triples.int.csv.gz``: no header, rows ``s, p, o`` (kgbench writes a space after the commas;
  both forms are read).
- ``training.int.csv``, ``validation.int.csv``, ``testing.int.csv``, ``all.int.csv``: header
  ``instance,cls`` then ``node,class`` rows.

:func:`load` streams ``nodes.int.csv`` once: non-image labels are kept in memory, image rows
only as byte offsets (plus a digest for :class:`NodeIndex`), so ``i2e`` and :meth:`KG.iter_images`
read the base64 text back from the file on access. Unlike kgbench-loader, ``e2i`` is a correct
inverse of ``i2e`` and nothing needs pandas or ``np.int``.
"""

from __future__ import annotations

import base64
import csv
import gc
import gzip
import hashlib
import io
import logging
import operator
import os
import re
import shutil
import time
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, chain, compress, islice, repeat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from saidl.common.errors import DataError

log = logging.getLogger(__name__)

IMAGE_DT = "http://kgbench.info/dt#base64Image"
XSD = "http://www.w3.org/2001/XMLSchema#"
STRING_DT = XSD + "string"
GYEAR_DT = XSD + "gYear"
BOOLEAN_DT = XSD + "boolean"
ANYURI_DT = XSD + "anyURI"
NNINT_DT = XSD + "nonNegativeInteger"
PINT_DT = XSD + "positiveInteger"
DATE_DT = XSD + "date"
WKT_DT = "http://www.opengis.net/ont/geosparql#wktLiteral"
ENTITY_ANNOTATIONS = ("iri", "blank_node")
NONE_ANNOTATION = "none"

SPLITS = ("training", "validation", "testing")
NODES_HEADER = ("index", "annotation", "label")
SPLIT_HEADER = ("instance", "cls")
DATA_FILES = ("nodes.int.csv", "relations.int.csv", "nodetypes.int.csv", "triples.int.csv.gz",
              "training.int.csv", "validation.int.csv", "testing.int.csv")

_HOW = ("write a synthetic one with saidl.multimodal.synth.generate, or fetch dmg777k with "
        "saidl.multimodal.download.fetch_dmg777k")
# An image row on one line: index, the image datatype, then the base64 text (quoted or not).
_IMAGE_ROW = re.compile(rb'"?(\d+)"?,("?)' + re.escape(IMAGE_DT.encode()) + rb'\2,("?)')
_BLOCK_BYTES = 1 << 22  # lines read at a time (about)
_BLOCK_ROWS = 1 << 16   # csv rows converted at a time

csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # long text literals


def _digest(b64: bytes) -> bytes:
    return hashlib.sha256(b64).digest()[:16]


@dataclass
class _ImageRows:
    """Where each image label lies in nodes.int.csv: global index (ascending), byte offset, length."""

    path: Path
    index: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    _digests: dict[bytes, int] | None = None

    def digests(self) -> dict[bytes, int]:
        """Digest of the base64 text -> global index, computed by one pass on first use."""
        if self._digests is None:
            out: dict[bytes, int] = {}
            with open(self.path, "rb") as fh:
                for j, i in enumerate(self.index.tolist()):
                    d = _digest(self.read(fh, j).encode("ascii"))
                    if d in out:
                        raise DataError(f"{self.path}: nodes {out[d]} and {i} are the same image literal; "
                                        "every (label, annotation) must be one node")
                    out[d] = i
            self._digests = out
        return self._digests

    def local(self, i: int) -> int:
        j = int(np.searchsorted(self.index, i))
        return j if j < len(self.index) and self.index[j] == i else -1

    def read(self, fh, j: int) -> str:
        fh.seek(int(self.offset[j]))
        return fh.read(int(self.length[j])).decode("ascii")


class NodeLabels(Sequence):
    """``i2e``: node index -> (label, annotation). Image labels are read from nodes.int.csv on access."""

    def __init__(self, labels: np.ndarray, node_type: np.ndarray, nodetypes: list[str], images: _ImageRows):
        self._labels, self._node_type, self._nodetypes, self._images = labels, node_type, nodetypes, images

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = operator.index(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"node index {i} out of range 0..{len(self) - 1}")
        label = self._labels[i]
        if label is None:
            with open(self._images.path, "rb") as fh:
                label = self._images.read(fh, self._images.local(i))
        return label, self._nodetypes[self._node_type[i]]


class NodeIndex(Mapping):
    """``e2i``: (label, annotation) -> node index, the inverse of ``i2e``. Images are keyed by a
    digest of their base64 text, computed on the first image look-up."""

    def __init__(self, index: dict[tuple[str, int], int], nodetypes: list[str], images: _ImageRows,
                 i2e: NodeLabels):
        self._index, self._images, self._i2e = index, images, i2e
        self._code = {a: c for c, a in enumerate(nodetypes)}

    def __getitem__(self, key) -> int:
        try:
            label, annotation = key
            if annotation == IMAGE_DT:
                return self._images.digests()[_digest(label.encode("ascii"))]
            return self._index[label, self._code[annotation]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._i2e)

    def __len__(self) -> int:
        return len(self._i2e)


@dataclass
class KG:
    """A kgbench dataset: integer triples, node labels, node types and the class splits."""

    root: Path
    triples: np.ndarray
    i2r: list[str]
    r2i: dict[str, int]
    nodetypes: list[str]
    node_type: np.ndarray
    training: np.ndarray
    validation: np.ndarray
    testing: np.ndarray
    i2e: NodeLabels
    e2i: NodeIndex
    num_entities: int
    num_relations: int
    num_classes: int
    _images: _ImageRows = field(repr=False)
    _l2g: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def withheld(self, final: bool = False) -> np.ndarray:
        """The validation split, or the test split when ``final`` (kgbench: never train on validation)."""
        return self.testing if final else self.validation

    def datatypes(self) -> list[str]:
        """The annotations that occur, in nodetypes order."""
        counts = np.bincount(self.node_type, minlength=len(self.nodetypes))
        return [a for a, c in zip(self.nodetypes, counts) if c]

    def datatype_l2g(self, dtype: str) -> np.ndarray:
        """Global indices (ascending) of the nodes with this annotation; for STRING_DT also the
        language-tagged and untyped ("none") literals."""
        if dtype not in self._l2g:
            codes = [c for c, a in enumerate(self.nodetypes)
                     if a == dtype or (dtype == STRING_DT and (a.startswith("@") or a == NONE_ANNOTATION))]
            self._l2g[dtype] = np.flatnonzero(np.isin(self.node_type, codes)).astype(np.int64)
        return self._l2g[dtype].copy()

    def datatype_g2l(self, dtype: str) -> np.ndarray:
        """(num_entities,) local index within ``datatype_l2g(dtype)``, -1 for other nodes."""
        l2g = self.datatype_l2g(dtype)
        g2l = np.full(self.num_entities, -1, dtype=np.int64)
        g2l[l2g] = np.arange(len(l2g))
        return g2l

    def get_strings(self, dtype: str) -> list[str]:
        """The labels of the nodes of ``datatype_l2g(dtype)``, in that order (images: use iter_images)."""
        if dtype == IMAGE_DT:
            raise ValueError("get_strings does not read image literals: use KG.iter_images")
        return self.i2e._labels[self.datatype_l2g(dtype)].tolist()

    def iter_images(self, indices: Iterable[int] | None = None, size: int | None = None
                    ) -> Iterator[Image.Image]:
        """RGB images of image nodes (global indices; default all, ascending), decoded one at a time
        from nodes.int.csv; ``size`` resizes to size x size. An undecodable image becomes a black
        image (1x1 without ``size``, as kgbench) and one warning with the count is logged."""
        rows = self._images
        if indices is None:
            local = np.arange(len(rows.index))
        else:
            idx = np.array(list(indices), dtype=np.int64).reshape(-1)
            local = np.minimum(np.searchsorted(rows.index, idx), max(len(rows.index) - 1, 0))
            bad = rows.index[local] != idx if len(rows.index) else np.ones(len(idx), dtype=bool)
            if bad.any():
                raise ValueError(f"node {int(idx[bad][0])} is not an image literal ({IMAGE_DT})")
        failed = 0
        try:
            with open(rows.path, "rb") as fh:
                for j in local.tolist():
                    try:
                        img = decode_image(rows.read(fh, j))
                    except ValueError:
                        failed += 1
                        img = Image.new("RGB", (size, size) if size else (1, 1))
                    if size and img.size != (size, size):
                        img = img.resize((size, size), Image.BILINEAR)
                    yield img
        finally:
            if failed:
                log.warning("%d image(s) in %s could not be decoded; black images stand in for them",
                            failed, rows.path)


def encode_image(img: Image.Image, fmt: str = "PNG") -> str:
    """URL-safe base64 text of ``img`` saved as ``fmt`` (kgbench's image literal)."""
    buf = io.BytesIO()
    (img.convert("RGB") if fmt.upper() in ("JPEG", "JPG") and img.mode != "RGB" else img).save(buf, format=fmt)
    return base64.urlsafe_b64encode(buf.getvalue()).decode("ascii")


def decode_image(text: str) -> Image.Image:
    """The RGB image of a (URL-safe or standard) base64 literal; ValueError when it is not an image."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")
    except (ValueError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"undecodable image literal ({type(e).__name__}: {e})") from None


# ----------------------------------------------------------------------------------------- load
def load(root: str | os.PathLike, *, progress: bool = True) -> KG:
    """Read a kgbench dataset folder (see the module docstring); DataError names a missing or bad file."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"kgbench dataset folder {root} does not exist: {_HOW}")
    for name in DATA_FILES:
        if not (root / name).is_file():
            raise DataError(f"{root / name} is missing (a kgbench dataset needs {', '.join(DATA_FILES)}): {_HOW}")
    t0 = time.perf_counter()
    i2r = _read_indexed(root / "relations.int.csv", "label")
    nodetypes = _read_indexed(root / "nodetypes.int.csv", "annotation")
    gc_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived containers: the cyclic GC would triple the parse time
    try:
        labels, node_type, images, index = _read_nodes(root / "nodes.int.csv", nodetypes, progress)
    finally:
        if gc_enabled:
            gc.enable()
    n = len(labels)
    triples = _read_triples(root / "triples.int.csv.gz", n, len(i2r))
    splits = {s: _read_split(root / f"{s}.int.csv", n) for s in SPLITS}
    for a, b in ((0, 1), (0, 2), (1, 2)):
        common = np.intersect1d(splits[SPLITS[a]][:, 0], splits[SPLITS[b]][:, 0])
        if len(common):
            raise DataError(f"{root}: {len(common)} node(s) (e.g. {int(common[0])}) are in both "
                            f"{SPLITS[a]} and {SPLITS[b]}.int.csv; the splits must be disjoint")
    i2e = NodeLabels(labels, node_type, nodetypes, images)
    classes = np.concatenate([s[:, 1] for s in splits.values()])
    kg = KG(root=root, triples=triples, i2r=i2r, r2i={r: i for i, r in enumerate(i2r)}, nodetypes=nodetypes,
            node_type=node_type, i2e=i2e, e2i=NodeIndex(index, nodetypes, images, i2e), num_entities=n,
            num_relations=len(i2r), num_classes=int(classes.max()) + 1 if len(classes) else 0,
            _images=images, **splits)
    log.info("loaded %s: %d nodes (%d images), %d relations, %d triples in %.1fs", root, n, len(images.index),
             len(i2r), len(triples), time.perf_counter() - t0)
    return kg


def _read_indexed(path: Path, column: str) -> list[str]:
    """An ``index,<column>`` file (relations, nodetypes) as a list, checking the indices are 0..n-1."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0] != ["index", column]:
        raise DataError(f"{path}: the header must be index,{column} (got {rows[0] if rows else 'an empty file'})")
    try:
        pairs = sorted((int(i), v) for i, v in rows[1:])
    except ValueError:
        raise DataError(f"{path}: every row must be <integer index>,<{column}>") from None
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise DataError(f"{path}: the indices must be 0..{len(pairs) - 1}, each once")
    return [v for _, v in pairs]


def _read_nodes(path: Path, nodetypes: list[str], progress: bool):
    """One streaming pass over nodes.int.csv in blocks of lines: image rows are matched on the raw
    bytes (only their offset and length are kept; never decoded to str); all other lines go, in
    order, through one csv reader, so quoted labels may span lines. Returns the labels (None for
    images), node types, image rows and the (label, type id) -> index map."""
    code_of = {a: c for c, a in enumerate(nodetypes)}
    img_idx: list[int] = []
    img_off: list[int] = []
    img_len: list[int] = []
    idx_rows: list[int] = []
    ann_rows: list[str] = []
    label_rows: list[str] = []
    with open(path, "rb") as fh, tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name,
                                      disable=None if progress else True) as bar:
        header = fh.readline()
        if next(csv.reader([header.decode("utf-8", "replace")]), []) != list(NODES_HEADER):
            raise DataError(f"{path}: the header must be \"index\",\"annotation\",\"label\" (got {header[:80]!r})")
        offset = len(header)

        def blocks() -> Iterator[list[bytes]]:
            """The non-image lines of each block, in order; image rows are recorded here."""
            nonlocal offset
            inside = 0  # 1 while a quoted field continues onto the next line
            while lines := fh.readlines(_BLOCK_BYTES):
                starts = list(accumulate(map(len, lines), initial=offset))
                offset = starts.pop()
                odd = np.fromiter(map(bytes.count, lines, repeat(b'"')), dtype=np.int64, count=len(lines)) & 1
                state = None  # per line: 1 if it continues a quoted label
                if inside or odd.any():
                    state = (np.cumsum(odd) + inside - odd) & 1
                    inside = int(state[-1] ^ odd[-1])
                    state = state.tolist()
                matches = list(map(_IMAGE_ROW.match, lines))
                for k in compress(range(len(lines)), matches):
                    if state is not None and state[k]:  # a label's continuation line, not a row
                        matches[k] = None
                        continue
                    m, line = matches[k], lines[k]
                    begin = m.end()
                    end = len(line) - len(m.group(3)) - (2 if line.endswith(b"\r\n") else line.endswith(b"\n"))
                    if line.count(b'"', begin, end) or (m.group(3) and line[end:end + 1] != b'"'):
                        raise DataError(f"{path}: the image row at byte {starts[k]} is malformed "
                                        "(its base64 text must be one field on one line)")
                    img_idx.append(int(m.group(1)))
                    img_off.append(starts[k] + begin)
                    img_len.append(end - begin)
                bar.update(offset - bar.n)
                yield [line for line, m in zip(lines, matches) if m is None]

        reader = csv.reader(chain.from_iterable(map(bytes.decode, b) for b in blocks()))
        try:
            while rows := list(islice(reader, _BLOCK_ROWS)):
                if set(map(len, rows)) != {3}:
                    bad = next(r for r in rows if len(r) != 3)
                    raise DataError(f"{path}: row {bad[:2]} has {len(bad)} fields; expected index,annotation,label")
                i_col, a_col, l_col = zip(*rows)
                idx_rows.extend(map(int, i_col))
                ann_rows.extend(a_col)
                label_rows.extend(l_col)
        except (csv.Error, ValueError) as e:  # UnicodeDecodeError is a ValueError
            raise DataError(f"{path}: not a valid kgbench nodes file near byte {offset} ({e})") from None

    codes = list(map(code_of.get, ann_rows))
    if None in codes:
        k = codes.index(None)
        raise DataError(f"{path}: annotation {ann_rows[k]!r} (node {idx_rows[k]}) is not listed in "
                        f"{path.parent / 'nodetypes.int.csv'}")
    if img_idx and IMAGE_DT not in code_of:
        raise DataError(f"{path}: has image rows but {IMAGE_DT} is not in {path.parent / 'nodetypes.int.csv'}")
    if IMAGE_DT in code_of and code_of[IMAGE_DT] in codes:
        k = codes.index(code_of[IMAGE_DT])
        raise DataError(f"{path}: the image row of node {idx_rows[k]} is not of the form "
                        f'<index>,"{IMAGE_DT}","<base64>" on one line')
    n = len(idx_rows) + len(img_idx)
    idx = np.array(idx_rows, dtype=np.int64)
    order = np.argsort(np.array(img_idx, dtype=np.int64), kind="stable")
    images = _ImageRows(path, np.array(img_idx, dtype=np.int64)[order], np.array(img_off, dtype=np.int64)[order],
                        np.array(img_len, dtype=np.int64)[order])
    every = np.concatenate([idx, images.index])
    if n and (every.min() < 0 or every.max() >= n or np.bincount(every).max() > 1):
        raise DataError(f"{path}: the node indices must be 0..{n - 1}, each once")
    index = dict(zip(zip(label_rows, codes), idx_rows))
    if len(index) != len(idx_rows):
        i, label, code = next((i, lab, c) for i, lab, c in zip(idx_rows, label_rows, codes) if index[lab, c] != i)
        raise DataError(f"{path}: nodes {index[label, code]} and {i} are the same literal "
                        f"({label[:40]!r}, {nodetypes[code]}); every (label, annotation) must be one node")
    labels = np.empty(n, dtype=object)
    labels[idx] = label_rows
    node_type = np.empty(n, dtype=np.int64)
    node_type[idx] = codes
    if img_idx:
        node_type[images.index] = code_of[IMAGE_DT]
    return labels, node_type, images, index


def _parse_ints(raw: bytes, width: int, path: Path) -> np.ndarray:
    """Comma-separated integer rows (spaces and \\r allowed) as an (n, width) int64 array."""
    rows = raw.count(b"\n") + (1 if raw.strip() and not raw.endswith(b"\n") else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            flat = np.fromstring(raw.replace(b"\n", b","), dtype=np.int64, sep=",") if rows else np.zeros(0, np.int64)
        except (DeprecationWarning, ValueError):
            flat = None
    if flat is None or flat.size != rows * width:
        raise DataError(f"{path}: every row must be {width} comma-separated integers")
    return flat.reshape(rows, width)


def _read_triples(path: Path, n: int, r: int) -> np.ndarray:
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({e}); re-create or re-download the dataset") from None
    triples = _parse_ints(raw, 3, path)
    if len(triples) and (triples.min() < 0 or triples[:, [0, 2]].max() >= n or triples[:, 1].max() >= r):
        raise DataError(f"{path}: triples refer to nodes outside 0..{n - 1} or relations outside 0..{r - 1}")
    return triples


def _read_split(path: Path, n: int) -> np.ndarray:
    raw = path.read_bytes()
    header, _, body = raw.partition(b"\n")
    if re.fullmatch(rb"[\d\s,]*", header):
        raise DataError(f"{path}: the first line must be the header instance,cls")
    split = _parse_ints(body, 2, path)
    if len(split) and (split[:, 0].min() < 0 or split[:, 0].max() >= n or split[:, 1].min() < 0):
        raise DataError(f"{path}: instances must be nodes 0..{n - 1} and classes >= 0")
    return split


# ---------------------------------------------------------------------------------------- write
def write(root: str | os.PathLike, nodes: list[tuple[str, str]], relations: list[str], triples: np.ndarray,
          splits: dict[str, np.ndarray]) -> None:
    """Write a kgbench dataset folder atomically (a temporary folder, then renamed into place).

    ``nodes`` are (label, annotation) pairs, each pair once; ``splits`` maps training/validation/
    testing to (n, 2) (node, class) arrays, which must not overlap. An existing ``root`` is replaced
    only when it is empty or a kgbench dataset."""
    root = Path(root)
    n = len(nodes)
    if len(set(nodes)) != n:
        seen: set = set()
        dup = next(x for x in nodes if x in seen or seen.add(x))
        raise ValueError(f"node {dup[0][:40]!r} ({dup[1]}) is listed twice; every (label, annotation) is one node")
    triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
    if len(triples) and (triples.min() < 0 or triples[:, [0, 2]].max() >= n or triples[:, 1].max() >= len(relations)):
        raise ValueError("triples refer to nodes or relations that are not listed")
    if set(splits) != set(SPLITS):
        raise ValueError(f"splits must have exactly the keys {SPLITS}, got {sorted(splits)}")
    parts = {s: np.asarray(splits[s], dtype=np.int64).reshape(-1, 2) for s in SPLITS}
    every = np.concatenate(list(parts.values()))
    if len(np.unique(every[:, 0])) != len(every):
        raise ValueError("the splits overlap (or list a node twice)")
    if len(every) and (every[:, 0].min() < 0 or every[:, 0].max() >= n or every[:, 1].min() < 0):
        raise ValueError("split instances must be node indices and classes >= 0")
    if root.exists() and any(root.iterdir()) and not (root / "nodes.int.csv").exists():
        raise ValueError(f"{root} exists and is not a kgbench dataset folder; refusing to replace it")

    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with open(tmp / "nodes.int.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
            w.writerow(NODES_HEADER)
            w.writerows((i, a, label) for i, (label, a) in enumerate(nodes))
        with open(tmp / "relations.int.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
            w.writerow(("index", "label"))
            w.writerows(enumerate(relations))
        with open(tmp / "nodetypes.int.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(("index", "annotation"))
            w.writerows(enumerate(sorted({a for _, a in nodes})))
        cols = [c.astype(str).tolist() for c in triples.T]
        text = "".join(f"{s}, {p}, {o}\n" for s, p, o in zip(*cols))
        # mtime=0: the same graph gives the same bytes (content checksums, caches)
        (tmp / "triples.int.csv.gz").write_bytes(gzip.compress(text.encode("ascii"), compresslevel=6, mtime=0))
        for name, rows in (*parts.items(), ("all", every)):
            body = "".join(f"{i},{c}\n" for i, c in rows.tolist())
            (tmp / f"{name}.int.csv").write_text(",".join(SPLIT_HEADER) + "\n" + body, encoding="ascii")
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        if root.exists():
            root.rename(old)
        tmp.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
