"""Analysis of a learned state embedding z = embed(s) on states the policy visits (numpy only).

Three views, none of them a loss curve:

* :func:`linear_probe`: how linearly decodable physical quantities and the return-to-go are
  from z (closed-form ridge, R^2 under cross-validation over whole trajectories), next to the
  same probe on the raw state. Caveat for the comparison: a quantity that *is* an observation
  coordinate (height, angle, x-velocity) is decoded perfectly from the raw state by
  construction, so for those the question is whether z *keeps* them (R^2 near 1) after a
  nonlinear encoder; the informative contrast is on nonlinear functions of the state such as the
  return-to-go. z has zs_dim (256) features against the state's 11, so the same probe runs on
  an untrained encoder's z as well (same architecture and dimension, random initial weights) to
  separate "learned" from "more random features". :func:`compare` applies the margin rule
  (:data:`MARGIN_RULE`) that every verdict on the probes uses.
* :func:`neighbour_agreement`: whether states that are close in z are close in (standardised)
  state space; low agreement means the embedding re-arranges the state space (as a dynamics
  model should, e.g. grouping states by what happens next), not that it is broken.
* :func:`pca_2d`: a 2-D projection for a scatter plot coloured by return-to-go or a quantity.

Hopper observation layout (gymnasium ``Hopper-v4``/``v5`` docs, default
``exclude_current_positions_from_observation=True``, so the torso's x is not observed), 11 dims:

====  =========================================  ====  ======================================
idx   quantity                                   idx   quantity
====  =========================================  ====  ======================================
0     z-coordinate of the torso (height, m)      6     z-velocity of the torso
1     angle of the torso (rad)                   7     angular velocity of the torso
2     angle of the thigh joint                   8     angular velocity of the thigh hinge
3     angle of the leg joint                     9     angular velocity of the leg hinge
4     angle of the foot joint                    10    angular velocity of the foot hinge
5     x-velocity of the torso (forward speed)
====  =========================================  ====  ======================================

The forward reward is the x-velocity, and the episode terminates when the height or the angle
leave the healthy range, so these three are the quantities a value-relevant embedding should
keep.
"""

from __future__ import annotations

import numpy as np

HOPPER_OBS_NAMES = ("height", "angle", "thigh_angle", "leg_angle", "foot_angle", "x_velocity", "z_velocity",
                    "angular_velocity", "thigh_angular_velocity", "leg_angular_velocity",
                    "foot_angular_velocity")
HOPPER_QUANTITIES = {"height": 0, "angle": 1, "x_velocity": 5}


def trajectory_folds(groups, n_folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """``min(n_folds, #trajectories)`` (train, test) index pairs that hold out *whole* trajectories.

    ``groups[i]`` names the trajectory (episode) of state i. Trajectories, in order of first
    appearance, go to folds round-robin; every state is in exactly one test fold, and no
    trajectory has states on both sides of a split. Consecutive states of one trajectory are
    nearly identical, so a split at random over states would let the probe match a test state to
    its training neighbours instead of reading the quantity off the features.
    """
    groups = np.asarray(groups)
    ids = list(dict.fromkeys(groups.tolist()))
    if len(ids) < 2:
        raise ValueError(f"a split by trajectory needs at least 2 trajectories, got {len(ids)}")
    k = min(int(n_folds), len(ids))
    if k < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    fold_of = {g: i % k for i, g in enumerate(ids)}
    fold = np.array([fold_of[g] for g in groups.tolist()])
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def _ridge_r2(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, ridge: float) -> float:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    mu, sd = X[train].mean(0), X[train].std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Xtr, Xte = (X[train] - mu) / sd, (X[test] - mu) / sd
    ymu = y[train].mean()
    A = Xtr.T @ Xtr + ridge * np.eye(X.shape[1])
    w = np.linalg.solve(A, Xtr.T @ (y[train] - ymu))
    pred = Xte @ w + ymu
    sst = np.sum((y[test] - y[test].mean()) ** 2)
    sse = np.sum((y[test] - pred) ** 2)
    return float(1.0 - sse / sst) if sst > 0 else float("nan")


def linear_probe(features: dict[str, np.ndarray], targets: dict[str, np.ndarray], groups,
                 n_folds: int = 5, ridge: float = 1.0) -> dict:
    """Held-out R^2 of closed-form ridge regressions from each feature set to each target, with
    cross-validation over whole trajectories (:func:`trajectory_folds`).

    ``features``: name -> (N, d) array, e.g. ``{"trained": z_s, "untrained": z_s of the initial
    encoder, "state": s}``; every set is probed on the same folds. Features are standardised with
    the training fold's statistics and an intercept is fitted; ``ridge`` is the L2 penalty on the
    standardised weights. R^2 is computed on each test fold against that fold's mean, so it can be
    negative (worse than predicting the held-out mean).

    Returns ``{"n_folds", "n_trajectories", "feature_sets", "targets",
    "r2": {feature set: {target: [R^2 of each fold]}}}``.
    """
    groups = np.asarray(groups)
    for name, X in features.items():
        if len(X) != len(groups):
            raise ValueError(f"feature set {name!r} has {len(X)} rows but there are {len(groups)} group labels")
    folds = trajectory_folds(groups, n_folds)
    return {"n_folds": len(folds), "n_trajectories": len(set(groups.tolist())),
            "feature_sets": list(features), "targets": list(targets),  # their order (JSON sorts keys)
            "r2": {name: {k: [_ridge_r2(X, y, tr, te, ridge) for tr, te in folds] for k, y in targets.items()}
                   for name, X in features.items()}}


# The margin rule of every verdict on the probes (the paper task's rule, with a floor): A is
# *better* than B when the mean of A's held-out R^2 values exceeds B's by more than the larger of
# their two standard deviations (over trajectory folds and seeds) and by more than MIN_R2_GAP,
# *worse* in the mirror case, and *within noise* otherwise; with fewer than two values on a side
# nothing is decided ("not tested"). The floor keeps differences that no table digit shows (two
# probes both at R^2 = 0.999 with tiny spreads) from becoming verdicts.
MIN_R2_GAP = 0.02
MARGIN_RULE = ("better when the difference of the mean held-out R^2 exceeds both the larger of the two standard "
               f"deviations over trajectory folds and seeds and {MIN_R2_GAP}, worse in the mirror case, "
               "within noise otherwise")


def compare(a, b) -> dict:
    """The margin rule on two lists of R^2 values: ``{"diff", "margin", "outcome"}`` with outcome
    "better" / "worse" (A against B) / "within noise" / "not tested"."""
    a = np.asarray([x for x in a if np.isfinite(x)], dtype=float)
    b = np.asarray([x for x in b if np.isfinite(x)], dtype=float)
    if a.size < 2 or b.size < 2:
        return {"diff": None, "margin": None, "outcome": "not tested"}
    diff = float(a.mean() - b.mean())
    margin = float(max(a.std(ddof=1), b.std(ddof=1), MIN_R2_GAP))
    outcome = "better" if diff > margin else ("worse" if -diff > margin else "within noise")
    return {"diff": diff, "margin": margin, "outcome": outcome}


def _knn(X: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Indices (N, k) of each row's k nearest other rows (Euclidean)."""
    X = np.asarray(X, dtype=np.float64)
    sq = np.sum(X**2, 1)
    out = np.empty((len(X), k), dtype=np.int64)
    for a in range(0, len(X), chunk):
        d = sq[a:a + chunk, None] + sq[None, :] - 2.0 * X[a:a + chunk] @ X.T
        rows = np.arange(a, min(a + chunk, len(X)))
        d[rows - a, rows] = np.inf  # exclude self
        out[a:a + chunk] = np.argpartition(d, k, axis=1)[:, :k]
    return out


def _standardise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    sd = X.std(0)
    return (X - X.mean(0)) / np.where(sd > 1e-12, sd, 1.0)


def neighbour_agreement(Z: np.ndarray, S: np.ndarray, k: int = 10, standardise_z: bool = False) -> float:
    """Mean over states of the Jaccard overlap |A ∩ B| / |A ∪ B| of the k-nearest-neighbour sets
    A (in embedding space, Euclidean on Z as is unless ``standardise_z``) and B (in state space,
    each coordinate standardised). 1: same neighbourhoods; about k / N: unrelated.

    Z = standardised S (or Z = S with ``standardise_z=True``) gives exactly 1.
    """
    Z, S = np.asarray(Z), np.asarray(S)
    if len(Z) != len(S):
        raise ValueError(f"Z has {len(Z)} rows but S has {len(S)}")
    if not 0 < k < len(Z):
        raise ValueError(f"k must be in [1, N-1], got k={k} with N={len(Z)}")
    a = _knn(_standardise(Z) if standardise_z else Z, k)
    b = _knn(_standardise(S), k)
    inter = np.array([len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(a, b)])
    return float(np.mean(inter / (2 * k - inter)))


def pca_2d(Z: np.ndarray, return_explained: bool = False):
    """Projection (N, 2) of the centred Z on its top two principal axes (SVD).

    With ``return_explained``: also the fraction of variance each of the two axes explains.
    """
    X = np.asarray(Z, dtype=np.float64)
    X = X - X.mean(0)
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    xy = U[:, :2] * s[:2]
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    if return_explained:
        total = float(np.sum(s**2))
        return xy, (s[:2] ** 2 / total if total > 0 else np.zeros(2))
    return xy


def discounted_returns_to_go(rewards: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """G_t = sum_{i>=t} gamma^(i-t) r_i for one episode's rewards (gamma = 1: undiscounted)."""
    r = np.asarray(rewards, dtype=np.float64)
    g, out = 0.0, np.empty_like(r)
    for t in range(len(r) - 1, -1, -1):
        g = r[t] + gamma * g
        out[t] = g
    return out


def _stats(values) -> dict:
    """Finite values with their mean and sample standard deviation (0 for one value; None if none)."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    return {"values": arr.tolist(), "n": int(arr.size), "mean": float(arr.mean()) if arr.size else None,
            "std": float(arr.std(ddof=1)) if arr.size > 1 else (0.0 if arr.size else None)}


# The comparisons the report makes, as (A, B): is A's probe better than B's?
COMPARISONS = (("trained", "untrained"), ("trained", "state"), ("untrained", "state"))


def summarise(analyses: list[dict]) -> dict:
    """One summary of the embedding analyses of several runs (seeds) of SALE: every probe's fold
    R^2 values pooled over seeds, with mean and std, the margin-rule verdict of each comparison in
    :data:`COMPARISONS` per target, neighbour agreement per encoder, and the first run's PCA."""
    first = analyses[0]
    sets = first["probe"].get("feature_sets") or list(first["probe"]["r2"])
    names = first["probe"].get("targets") or list(first["probe"]["r2"][sets[0]])
    pooled = {f: {k: [x for a in analyses for x in a["probe"]["r2"][f][k]] for k in names} for f in sets}
    verdicts = {k: {f"{a}_vs_{b}": compare(pooled[a][k], pooled[b][k]) for a, b in COMPARISONS
                    if a in pooled and b in pooled} for k in names}
    return {
        "n_runs": len(analyses), "n_states": [a["n_states"] for a in analyses],
        "n_episodes": first["n_episodes"], "n_folds": first["probe"]["n_folds"],
        "targets": names, "feature_sets": sets,
        "probe": {f: {k: _stats(v) for k, v in pooled[f].items()} for f in sets},
        "verdicts": verdicts, "margin_rule": MARGIN_RULE, "min_r2_gap": MIN_R2_GAP,
        "neighbour_agreement": {w: _stats([a["neighbour_agreement"][w] for a in analyses])
                                for w in first["neighbour_agreement"]},
        "encoder_target": sorted({str(a["encoder_target"]) for a in analyses}),
        "encoder_updates": min(a["encoder_updates"] for a in analyses),
        "encoder_refreshes": min(a["encoder_refreshes"] for a in analyses),
        "encoder_refresh": first["encoder_refresh"],
        "pca": first["pca"], "pca_return": first["pca_return"],
    }
