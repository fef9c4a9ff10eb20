"""The one statistics rule every report follows: intervals over seeds, comparisons, verdicts.

Every verdict and every superlative a report prints ("A beats B", "best", "helps", "hurts
more", "supported") comes from this module; templates ask for a comparison and print words
chosen by its verdict, they never decide one themselves.

- :func:`interval`: mean, sample std and a two-sided Student-t confidence interval of the
  per-seed values (``CONFIDENCE``). With fewer than ``MIN_N`` values there is no std and no
  interval (``None``), so nothing is ever printed as "± 0.0".
- :func:`compare`: A against B. When the runs share seeds (``paired=True``) the interval is a
  t-interval of the per-seed differences; otherwise Welch's interval of the difference of the
  means. ``better`` when the whole interval lies on A's side of zero, ``worse`` when it lies on
  B's side, ``no difference shown`` when it contains zero, ``too few seeds`` when either arm (or
  the pairs) has fewer than ``MIN_N`` values. ``higher_is_better=False`` for losses, errors,
  distances and times.
- :func:`claim_verdict`: a claim resting on several comparisons, each stated so that ``better``
  is what the claim predicts: ``supported`` (all better), ``partly supported`` (some better,
  none worse), ``contradicted`` (some worse, none better), ``mixed`` (some better, some
  worse), ``not shown`` (no difference shown anywhere), ``too few seeds``.
- :func:`best`: which arms are best. The arm with the best mean, and every arm that is not shown
  worse than it, form the best set; only a best set of one is called "best".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CONFIDENCE = 0.95
MIN_N = 2

BETTER, WORSE, NO_DIFFERENCE, TOO_FEW = "better", "worse", "no difference shown", "too few seeds"
COMPARISON_VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, TOO_FEW)
SUPPORTED, PARTLY, CONTRADICTED, MIXED, NOT_SHOWN = (
    "supported", "partly supported", "contradicted", "mixed", "not shown")
CLAIM_VERDICTS = (SUPPORTED, PARTLY, CONTRADICTED, MIXED, NOT_SHOWN, TOO_FEW)

RULE = (f"Intervals are two-sided {CONFIDENCE:.0%} Student-t intervals over seeds (n is printed with "
        "each); a comparison of runs that share seeds uses the per-seed differences (paired), "
        "otherwise Welch's interval of the difference of the means. A beats B only when the "
        "interval of the difference excludes zero; when it contains zero the report says that no "
        f"difference is shown, and with fewer than {MIN_N} seeds that there are too few seeds to say. "
        "A claim is supported when every comparison it rests on is won, partly supported when some "
        "are won and none lost, and contradicted when some are lost and none won.").replace("%", r"\%")


def _values(x: Any) -> list[float]:
    """The finite values of a list, or of an ``interval``/``stats`` dict's ``values``."""
    if x is None:
        return []
    if isinstance(x, Mapping):
        x = x.get("values", [])
    return [float(v) for v in x if v is not None and math.isfinite(float(v))]


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t quantile for ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, df))


def interval(values: Iterable[float] | Mapping, confidence: float = CONFIDENCE) -> dict:
    """``{values, n, mean, std, lo, hi, confidence}`` of the finite values.

    ``std``, ``lo`` and ``hi`` are None with fewer than ``MIN_N`` values; ``mean`` is None with
    none. Non-finite values (a diverged seed) are left out, and ``n`` counts what is left.
    """
    v = _values(values)
    n = len(v)
    out: dict[str, Any] = {"values": v, "n": n, "mean": None, "std": None, "lo": None, "hi": None,
                           "confidence": confidence}
    if n == 0:
        return out
    mean = math.fsum(v) / n
    out["mean"] = mean
    if n >= MIN_N:
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in v) / (n - 1))
        half = t_quantile(n - 1, confidence) * std / math.sqrt(n)
        out.update(std=std, lo=mean - half, hi=mean + half)
    return out


def compare(a: Any, b: Any, *, paired: bool = False, higher_is_better: bool = True,
            confidence: float = CONFIDENCE) -> dict:
    """A against B: ``{verdict, diff, lo, hi, n_a, n_b, n_pairs, test, confidence}``.

    ``diff`` is mean(A) - mean(B) (for paired runs, the mean per-seed difference), ``lo``/``hi``
    its interval. ``a``/``b`` are value lists or ``interval`` dicts. Paired comparisons need the
    two lists in the same seed order; a seed missing (non-finite) in either arm is dropped from
    both.
    """
    if paired:
        ra = a.get("values", []) if isinstance(a, Mapping) else list(a or [])
        rb = b.get("values", []) if isinstance(b, Mapping) else list(b or [])
        if len(ra) != len(rb):
            raise ValueError(f"a paired comparison needs one value per seed in each arm, got {len(ra)} and {len(rb)}")
        pairs = [(float(x), float(y)) for x, y in zip(ra, rb)
                 if x is not None and y is not None and math.isfinite(float(x)) and math.isfinite(float(y))]
        d = interval([x - y for x, y in pairs], confidence)
        out = {"diff": d["mean"], "lo": d["lo"], "hi": d["hi"], "n_a": len(_values(ra)), "n_b": len(_values(rb)),
               "n_pairs": len(pairs), "test": "paired t", "confidence": confidence}
        enough = len(pairs) >= MIN_N
    else:
        ia, ib = interval(a, confidence), interval(b, confidence)
        out = {"diff": None, "lo": None, "hi": None, "n_a": ia["n"], "n_b": ib["n"], "n_pairs": None,
               "test": "Welch t", "confidence": confidence}
        enough = ia["n"] >= MIN_N and ib["n"] >= MIN_N
        if ia["n"] and ib["n"]:
            out["diff"] = ia["mean"] - ib["mean"]
        if enough:
            va, vb = ia["std"] ** 2 / ia["n"], ib["std"] ** 2 / ib["n"]
            se = math.sqrt(va + vb)
            if se == 0:
                out["lo"] = out["hi"] = out["diff"]
            else:
                df = (va + vb) ** 2 / ((va ** 2 / (ia["n"] - 1) if va else 0) + (vb ** 2 / (ib["n"] - 1) if vb else 0))
                half = t_quantile(df, confidence) * se
                out["lo"], out["hi"] = out["diff"] - half, out["diff"] + half
    if not enough:
        out["verdict"] = TOO_FEW
    else:
        lo, hi = (out["lo"], out["hi"]) if higher_is_better else (-out["hi"], -out["lo"])
        out["verdict"] = BETTER if lo > 0 else WORSE if hi < 0 else NO_DIFFERENCE
    out["higher_is_better"] = higher_is_better
    return out


def claim_verdict(outcomes: Sequence[str | Mapping]) -> str:
    """A claim's verdict from its comparisons (verdict strings or ``compare`` dicts), each
    oriented so that ``better`` is what the claim predicts."""
    got = [o["verdict"] if isinstance(o, Mapping) else o for o in outcomes]
    got = [o for o in got if o is not None]
    for o in got:
        if o not in COMPARISON_VERDICTS:
            raise ValueError(f"unknown comparison verdict {o!r} (one of {', '.join(COMPARISON_VERDICTS)})")
    won, lost = BETTER in got, WORSE in got
    if won and lost:
        return MIXED
    if won:
        return SUPPORTED if all(o == BETTER for o in got) else PARTLY
    if lost:
        return CONTRADICTED
    if not got or all(o == TOO_FEW for o in got):
        return TOO_FEW
    return NOT_SHOWN


def best(arms: Mapping[str, Any], *, higher_is_better: bool = True, paired: bool = False,
         confidence: float = CONFIDENCE) -> dict:
    """``{top, set, verdict, comparisons}``: the arm with the best mean (``top``), the arms not
    shown worse than it (``set``, ``top`` included), and ``verdict``: ``best`` when the set is
    ``top`` alone, ``tied`` when it holds more, ``too few seeds`` when any arm has fewer than
    ``MIN_N`` values (then ``set`` is every arm)."""
    means = {k: interval(v, confidence)["mean"] for k, v in arms.items()}
    means = {k: m for k, m in means.items() if m is not None}
    if not means:
        return {"top": None, "set": [], "verdict": TOO_FEW, "comparisons": {}}
    top = (max if higher_is_better else min)(means, key=means.get)
    if interval(arms[top], confidence)["n"] < MIN_N:
        return {"top": top, "set": list(means), "verdict": TOO_FEW, "comparisons": {}}
    comparisons = {k: compare(arms[top], arms[k], paired=paired, higher_is_better=higher_is_better,
                              confidence=confidence) for k in means if k != top}
    if any(c["verdict"] == TOO_FEW for c in comparisons.values()):
        return {"top": top, "set": list(means), "verdict": TOO_FEW, "comparisons": comparisons}
    tied = [top] + [k for k, c in comparisons.items() if c["verdict"] != BETTER]
    return {"top": top, "set": tied, "verdict": "best" if len(tied) == 1 else "tied", "comparisons": comparisons}
