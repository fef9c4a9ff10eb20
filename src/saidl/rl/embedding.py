"""Analysis of a learned state embedding z = embed(s) on states the policy visits (numpy only).

Three views, none of them a loss curve:

* :func:`linear_probe`: how linearly decodable physical quantities and the return-to-go are
  from z (closed-form ridge, R^2 on a held-out 30 % split), next to the same probe on the raw
  state. Caveat for the comparison: a quantity that *is* an observation coordinate (height,
  angle, x-velocity) is decoded perfectly from the raw state by construction, so for those the
  question is whether z *keeps* them (R^2 near 1) after a nonlinear encoder; the informative
  contrast is on nonlinear functions of the state such as the return-to-go. z has zs_dim (256)
  features against the state's 11, so compare against an untrained encoder's z as well
  (same dimension, random features) to separate "learned" from "more features".
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


def _split(n: int, seed: int, test_frac: float) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_frac * n)))
    return perm[n_test:], perm[:n_test]


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


def linear_probe(Z: np.ndarray, targets: dict[str, np.ndarray], seed: int = 0, S: np.ndarray | None = None,
                 ridge: float = 1.0, test_frac: float = 0.3) -> dict:
    """Held-out R^2 of closed-form ridge regressions from the features to each target.

    Features are standardised with the training split's statistics and an intercept is fitted;
    ``ridge`` is the L2 penalty on the standardised weights. The split (``test_frac`` held out)
    is drawn from ``seed`` and shared by every target and by both feature sets.

    Returns ``{"embedding": {name: R^2}, "state": {name: R^2}}``; "state" (the same probe on the
    raw states ``S``) is present only when ``S`` is given. R^2 can be negative (worse than
    predicting the held-out mean).
    """
    Z = np.asarray(Z)
    train, test = _split(len(Z), seed, test_frac)
    out = {"embedding": {k: _ridge_r2(Z, y, train, test, ridge) for k, y in targets.items()}}
    if S is not None:
        if len(S) != len(Z):
            raise ValueError(f"S has {len(S)} rows but Z has {len(Z)}")
        out["state"] = {k: _ridge_r2(S, y, train, test, ridge) for k, y in targets.items()}
    return out


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
