"""Simple per-modality node features: deterministic float32 ``(n, d)`` arrays from plain lists.

Every parser maps an unparsable value to an all-zero row (never NaN) and logs one warning with
the count and a few examples.  Scalar statistics (z-scores) are taken over the values of the
call, i.e. over all literal nodes of one datatype in the transductive setting of dmg777k.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
from PIL import Image
from tqdm import tqdm

__all__ = ["IMAGE_STATS_DIM", "YEAR_PERIODS", "image_stats", "bag_of_words", "tokenize", "parse_number",
           "parse_year", "parse_point", "parse_boolean", "number_features", "year_features",
           "point_features", "boolean_features"]

log = logging.getLogger(__name__)

Z_CLIP = 5.0            # z-scores are clipped to [-5, 5]: one outlier cannot dominate a feature
HIST_BINS = 8           # per RGB channel
THUMB = 6               # grayscale thumbnail side
ORIENT_BINS = 8         # unsigned gradient orientations over [0, pi)
IMAGE_STATS_DIM = 3 + 3 + 3 * HIST_BINS + THUMB * THUMB + ORIENT_BINS + 1
YEAR_PERIODS = (1000.0, 250.0, 50.0)


def _report_bad(kind: str, values: list[str], bad: np.ndarray) -> None:
    n_bad = int(bad.sum())
    if n_bad:
        examples = [values[i] for i in np.flatnonzero(bad)[:3]]
        log.warning("%d of %d %s values could not be parsed (e.g. %s); their feature rows are zeros",
                    n_bad, len(values), kind, ", ".join(repr(v[:60]) for v in examples))


def _zscore(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """z-score of ``x`` over the rows where ``ok``, clipped to +-Z_CLIP; 0 elsewhere."""
    out = np.zeros_like(x, dtype=np.float64)
    if ok.any():
        mu, sd = x[ok].mean(axis=0), x[ok].std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        out[ok] = np.clip((x[ok] - mu) / sd, -Z_CLIP, Z_CLIP)
    return out


# --------------------------------------------------------------------------- images

def _one_image_stats(img: Image.Image, size: int) -> np.ndarray:
    rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    a = np.asarray(rgb, dtype=np.float64) / 255.0                        # (size, size, 3)
    px = a.reshape(-1, 3)
    hist = [np.histogram(px[:, c], bins=HIST_BINS, range=(0.0, 1.0))[0] / len(px) for c in range(3)]
    thumb = np.asarray(rgb.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float64) / 255.0
    gray = a @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(gray)
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    orient = np.histogram(ang, bins=ORIENT_BINS, range=(0.0, np.pi), weights=mag)[0]
    orient = orient / orient.sum() if orient.sum() > 0 else orient
    return np.concatenate([px.mean(0), px.std(0), *hist, thumb.ravel(), orient, [mag.mean()]])


def image_stats(images: Iterable[Image.Image], size: int = 32) -> np.ndarray:
    """Hand-made image features, ``(n, IMAGE_STATS_DIM)`` = (n, 75) float32.

    Each image is converted to RGB and resized (bilinear) to ``size`` x ``size``; features:
    RGB mean (3) and std (3), an 8-bin histogram per channel as fractions (24), a 6x6 grayscale
    thumbnail (36), a magnitude-weighted histogram of 8 unsigned gradient orientations
    normalised to sum 1 (8), and the mean gradient magnitude (1).  Values lie in [0, 1].
    """
    rows = [_one_image_stats(img, size)
            for img in tqdm(images, desc="image stats", unit="img", disable=None, mininterval=2.0)]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), IMAGE_STATS_DIM)


# --------------------------------------------------------------------------- texts

_TOKEN = re.compile(r"[^\W\d_]{2,}")


def tokenize(text: str) -> list[str]:
    """Lower-cased runs of two or more letters (Unicode-aware: Dutch accents are kept)."""
    return _TOKEN.findall(text.lower())


def bag_of_words(texts: list[str], vocab: list[str] | None = None, max_vocab: int = 512, *,
                 min_df: int = 2, max_df: float = 0.5) -> tuple[np.ndarray, list[str]]:
    """Binary bag of words: ``X[i, j] = 1`` when token ``vocab[j]`` occurs in ``texts[i]``.

    Without ``vocab`` it is built from ``texts``: tokens present in at least ``min_df``
    documents and at most a fraction ``max_df`` of them (drops hapaxes and filler words), the
    ``max_vocab`` with the highest document frequency, ties alphabetical, in that order.  With
    ``vocab`` given it is used as is and other tokens are ignored.  Returns (float32
    ``(n, len(vocab))``, vocab).
    """
    docs = [set(tokenize(t)) for t in texts]
    if vocab is None:
        df = Counter(tok for d in docs for tok in d)
        limit = max_df * len(docs)
        keep = sorted((tok for tok, c in df.items() if min_df <= c <= limit), key=lambda t: (-df[t], t))
        vocab = keep[:max_vocab]
    vocab = list(vocab)
    index = {tok: j for j, tok in enumerate(vocab)}
    x = np.zeros((len(docs), len(vocab)), dtype=np.float32)
    for i, d in enumerate(docs):
        cols = [index[t] for t in d if t in index]
        x[i, cols] = 1.0
    return x, vocab


# --------------------------------------------------------------------------- scalar parsers

def parse_number(value: str) -> float | None:
    """A finite int or decimal (``"12"``, ``" +3 "``, ``"4.5"``, ``"1e3"``), else None."""
    s = value.strip()
    if "_" in s:  # Python's int() / float() accept digit separators; xsd does not
        return None
    try:
        return float(int(s))
    except ValueError:
        pass
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


_YEAR = re.compile(r"([+-]?)(\d+)(?:-(\d{2})(?:-(\d{2}))?)?"     # year, optional -MM and -DD
                   r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"        # optional time (xsd:dateTime)
                   r"(?:Z|[+-]\d{2}:\d{2})?")                       # optional time zone


def parse_year(value: str) -> int | None:
    """The year of an xsd:gYear / gYearMonth / date / dateTime lexical form, else None.

    Lenient about digits (``"887"`` -> 887; XSD wants at least four): ``"1887"``,
    ``"-0044"`` -> -44, ``"1887Z"``, ``"1887+01:00"``, ``"1887-05-01"``, ``"1887-05-01T12:00:00"``.
    Months outside 01-12 and days outside 01-31 are rejected.
    """
    m = _YEAR.fullmatch(value.strip())
    if m is None:
        return None
    sign, year, month, day = m.groups()
    if month is not None and not 1 <= int(month) <= 12 or day is not None and not 1 <= int(day) <= 31:
        return None
    return -int(year) if sign == "-" else int(year)


_WKT = re.compile(r"(?:<[^>]*>\s*)?([A-Za-z]+)\s*(ZM|Z|M)?\s*\((.*)\)", re.S | re.I)
_WKT_BODY = re.compile(r"[\d\s.,()eE+-]*")
_WKT_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WKT_TYPES = {"POINT", "MULTIPOINT", "LINESTRING", "MULTILINESTRING", "POLYGON", "MULTIPOLYGON"}


def parse_point(value: str) -> tuple[float, float] | None:
    """(x, y) of a WKT literal, else None.

    ``POINT(5.1 52.0)``, any case and spacing, an optional leading CRS IRI (GeoSPARQL
    ``<...> POINT(...)``) and Z / M / ZM coordinates.  Line strings and (multi)polygons give the
    mean of their distinct vertices.  Coordinates are taken in their written order (CRS84: lon lat).
    """
    m = _WKT.fullmatch(value.strip())
    if m is None or m.group(1).upper() not in _WKT_TYPES or not _WKT_BODY.fullmatch(m.group(3)):
        return None
    per = 2 + len(m.group(2) or "")
    nums = np.array([float(t) for t in _WKT_NUM.findall(m.group(3))])
    if len(nums) == 0 or len(nums) % per or (m.group(1).upper() == "POINT" and len(nums) != per):
        return None
    xy = np.unique(nums.reshape(-1, per)[:, :2], axis=0).mean(axis=0)
    return (float(xy[0]), float(xy[1])) if np.isfinite(xy).all() else None


_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def parse_boolean(value: str) -> bool | None:
    """xsd:boolean (``true``/``false``/``1``/``0``, any case), else None."""
    s = value.strip().lower()
    return True if s in _TRUE else False if s in _FALSE else None


# --------------------------------------------------------------------------- scalar features

def _parse_all(values: list[str], parse, kind: str) -> tuple[list, np.ndarray]:
    parsed = [parse(v) for v in values]
    bad = np.array([p is None for p in parsed], dtype=bool)
    _report_bad(kind, values, bad)
    return parsed, ~bad


def number_features(values: list[str]) -> np.ndarray:
    """(n, 2) float32: [z-score of sign(x) log1p(|x|), z-score of x], both clipped to +-5."""
    parsed, ok = _parse_all(values, parse_number, "number")
    x = np.array([p if p is not None else 0.0 for p in parsed], dtype=np.float64)
    cols = np.stack([np.sign(x) * np.log1p(np.abs(x)), x], axis=1)
    return _zscore(cols, ok).astype(np.float32).reshape(len(values), 2)


def year_features(values: list[str], periods: tuple[float, ...] = YEAR_PERIODS) -> np.ndarray:
    """(n, 1 + 2 len(periods)) float32, default (n, 7): [z-score of the year (clipped to +-5),
    sin and cos of 2 pi year / P for each period P]; see ``parse_year`` for the formats."""
    parsed, ok = _parse_all(values, parse_year, "year")
    y = np.array([p if p is not None else 0 for p in parsed], dtype=np.float64)
    phase = 2 * np.pi * y[:, None] / np.asarray(periods, dtype=np.float64)[None, :]
    out = np.concatenate([_zscore(y[:, None], ok), np.sin(phase), np.cos(phase)], axis=1)
    out[~ok] = 0.0
    return out.astype(np.float32).reshape(len(values), 1 + 2 * len(periods))


def point_features(values: list[str], n_freq: int = 8, *, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    """(n, 2 + 2 n_freq) float32, default (n, 18): standardised (x, y) (z-scores clipped to +-5)
    and random Fourier features sin/cos(2 pi z B) with a fixed ``B ~ N(0, scale^2)`` of shape
    (2, n_freq) drawn from ``seed``; see ``parse_point`` for the formats."""
    parsed, ok = _parse_all(values, parse_point, "WKT point")
    xy = np.array([p if p is not None else (0.0, 0.0) for p in parsed], dtype=np.float64).reshape(-1, 2)
    z = _zscore(xy, ok)
    b = np.random.default_rng(seed).normal(0.0, scale, size=(2, n_freq))
    phase = 2 * np.pi * z @ b
    out = np.concatenate([z, np.sin(phase), np.cos(phase)], axis=1)
    out[~ok] = 0.0
    return out.astype(np.float32).reshape(len(values), 2 + 2 * n_freq)


def boolean_features(values: list[str]) -> np.ndarray:
    """(n, 1) float32: +1 true, -1 false, 0 unparsable."""
    parsed, _ = _parse_all(values, parse_boolean, "boolean")
    return np.array([[0.0 if p is None else 1.0 if p else -1.0] for p in parsed],
                    dtype=np.float32).reshape(len(values), 1)
