"""FID and CMMD distances between two sets of image embeddings (float64 NumPy).

* FID (Heusel et al. 2017): ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` on Inception
  pool3 features.  SciPy is not a dependency, so ``Tr (S1 S2)^(1/2)`` is taken from the
  eigenvalues of the symmetric PSD matrix ``S1^(1/2) S2 S1^(1/2)``, which has the same
  spectrum as ``S1 S2``; this is exact for PSD covariances, needs no inverse (so singular
  covariances from n < dim samples are fine) and never produces imaginary parts.  From raw
  features with few samples an exact low-rank form (a nuclear norm) is used instead.
* CMMD (Jayasumana et al. 2024, google-research ``cmmd/distance.py``): squared MMD with a
  Gaussian RBF kernel (sigma = 10) on L2-normalised embeddings, times 1000; by default the
  official biased V-statistic (full-matrix means, diagonal included).
"""

from __future__ import annotations

import numpy as np

__all__ = ["feature_stats", "frechet_distance", "fid_from_features", "cmmd", "kernel_sum",
           "CMMD_SIGMA", "CMMD_SCALE"]

CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0


def _as_2d(feats, what: str) -> np.ndarray:
    a = np.asarray(feats, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty (n, dim) array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} contains NaN or inf")
    return a


def _eigh(a: np.ndarray, vectors: bool):
    """Symmetric eigen-decomposition in float64 via torch.linalg when available (it honours
    torch's thread setting; NumPy's OpenBLAS oversubscribes a busy CPU: 5 s vs 0.4 s for a
    2048 x 2048 ``eigvalsh`` here), else NumPy."""
    a = (a + a.T) / 2
    try:
        import torch
    except ImportError:
        return np.linalg.eigh(a) if vectors else np.linalg.eigvalsh(a)
    t = torch.from_numpy(np.ascontiguousarray(a))
    if vectors:
        w, v = torch.linalg.eigh(t)
        return w.numpy(), v.numpy()
    return torch.linalg.eigvalsh(t).numpy()


def _svdvals(a: np.ndarray) -> np.ndarray:
    try:
        import torch
    except ImportError:
        return np.linalg.svd(a, compute_uv=False)
    return torch.linalg.svdvals(torch.from_numpy(np.ascontiguousarray(a))).numpy()


def _sqrt_nonzero(lam: np.ndarray) -> float:
    """Sum of square roots of PSD eigenvalues; those below the usual rank tolerance are
    rounding noise of true zeros (singular covariances) and count as 0 -- sqrt would amplify
    that noise (sqrt(1e-14) = 1e-7)."""
    tol = float(np.abs(lam).max(initial=0.0)) * lam.size * np.finfo(np.float64).eps
    return float(np.sqrt(lam[lam > tol]).sum())


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative rounding eigenvalues -> 0)."""
    w, v = _eigh(sigma, vectors=True)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``Tr (S1 S2)^(1/2) = sum_i sqrt(lambda_i)`` with ``lambda_i`` the eigenvalues of
    ``S1^(1/2) S2 S1^(1/2)`` (similar to ``S1 S2``); tiny negative eigenvalues from rounding
    (and eigenvalues below the usual rank tolerance) count as 0.  Unlike ``scipy.linalg.sqrtm`` this needs no ``eps * I`` offset for
    singular covariances and has no imaginary part to drop.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
    r1 = _psd_sqrt(s1)
    tr_covmean = _sqrt_nonzero(_eigh(r1 @ s2 @ r1, vectors=False))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (ddof=1, as pytorch-fid) of (n, dim) features, n >= 2."""
    a = _as_2d(feats, "features")
    if a.shape[0] < 2:
        raise ValueError("feature_stats needs at least 2 feature rows for a covariance")
    return a.mean(axis=0), np.cov(a, rowvar=False).reshape(a.shape[1], a.shape[1])


def fid_from_features(f1, f2) -> float:
    """FID between two (n, dim) feature sets (not comparable across extractors or sample sizes).

    With few samples (n1 n2 min(n1, n2) <= dim^3) it uses the exact low-rank identity
    ``Tr (S1 S2)^(1/2) = ||A1^T A2||_*`` (nuclear norm), where ``S_i = A_i A_i^T`` and
    ``A_i = (F_i - mu_i)^T / sqrt(n_i - 1)``: an SVD of an n1 x n2 matrix instead of two
    dim x dim eigen-decompositions.  Otherwise ``frechet_distance`` on the statistics.
    """
    a, b = _as_2d(f1, "f1"), _as_2d(f2, "f2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dims differ: {a.shape[1]} vs {b.shape[1]}")
    (n1, d), n2 = a.shape, b.shape[0]
    if n1 * n2 * min(n1, n2) > d ** 3:
        return frechet_distance(*feature_stats(a), *feature_stats(b))
    if min(n1, n2) < 2:
        raise ValueError("fid_from_features needs at least 2 feature rows per set")
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    a1, a2 = (a - mu1) / np.sqrt(n1 - 1), (b - mu2) / np.sqrt(n2 - 1)  # rows: A_i^T
    sv = _svdvals(a1 @ a2.T)
    diff = mu1 - mu2
    return float(diff @ diff + np.sum(a1 * a1) + np.sum(a2 * a2) - 2.0 * sv.sum())


def _l2_normalise(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a, axis=1, keepdims=True)
    if np.any(n == 0):
        raise ValueError("CMMD embeddings must be non-zero (they are L2-normalised)")
    return a / n


def kernel_sum(a: np.ndarray, b: np.ndarray | None, gamma: float, block: int = 1 << 22) -> float:
    """Sum over all pairs of ``exp(-gamma ||a_i - b_j||^2)`` (b=None: a against itself).

    Uses ``||a||^2 + ||b||^2 - 2 a.b`` clamped at 0, in row blocks of about ``block`` matrix
    entries, so memory stays bounded for tens of thousands of rows.  With ``b=None`` the
    diagonal distances are set to exactly 0 (their rounding error would otherwise leak in).
    """
    same = b is None
    b = a if same else b
    a2 = np.einsum("ij,ij->i", a, a)
    b2 = np.einsum("ij,ij->i", b, b)
    rows = max(1, block // max(1, b.shape[0]))
    total = 0.0
    for s in range(0, a.shape[0], rows):
        d2 = a2[s:s + rows, None] + b2[None, :] - 2.0 * (a[s:s + rows] @ b.T)
        np.maximum(d2, 0.0, out=d2)
        if same:
            i = np.arange(d2.shape[0])
            d2[i, s + i] = 0.0
        total += float(np.exp(-gamma * d2).sum())
    return total


def cmmd(x, y, sigma: float = CMMD_SIGMA, scale: float = CMMD_SCALE, estimator: str = "biased") -> float:
    """CMMD between embedding sets x (n, d) and y (m, d), exactly as google-research ``cmmd``.

    Rows are L2-normalised; ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``;
    ``CMMD = scale * (mean Kxx + mean Kyy - 2 mean Kxy)``.  ``estimator="biased"`` (official)
    takes full-matrix means, diagonal included (V-statistic); ``"unbiased"`` averages Kxx and
    Kyy over i != j only (U-statistic; Kxy stays a full mean).  Computed in float64.
    """
    if estimator not in ("biased", "unbiased"):
        raise ValueError(f"estimator must be 'biased' or 'unbiased', got {estimator!r}")
    x = _l2_normalise(_as_2d(x, "x"))
    y = _l2_normalise(_as_2d(y, "y"))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"embedding dims differ: {x.shape[1]} vs {y.shape[1]}")
    n, m = x.shape[0], y.shape[0]
    gamma = 1.0 / (2.0 * sigma * sigma)
    sxx, syy, sxy = kernel_sum(x, None, gamma), kernel_sum(y, None, gamma), kernel_sum(x, y, gamma)
    if estimator == "biased":
        kxx, kyy = sxx / (n * n), syy / (m * m)
    else:
        if n < 2 or m < 2:
            raise ValueError("the unbiased CMMD estimator needs at least 2 embeddings per set")
        kxx, kyy = (sxx - n) / (n * (n - 1)), (syy - m) / (m * (m - 1))  # diagonal k = 1 exactly
    return float(scale * (kxx + kyy - 2.0 * sxy / (n * m)))
