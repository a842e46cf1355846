"""The Fréchet distance between two Gaussians fitted to feature sets (FID, FVD).

    d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)

Pure functions, no state: `metrics.fid` and `metrics.fvd` hold the feature sums and call
these (`statistics_from_sums`, then `frechet_distance`). The matrix square root is scipy's ``sqrtm``, as in pytorch-fid and clean-fid
(``cleanfid.fid.frechet_distance``); the rank-deficient case (fewer samples than feature
dimensions, so both covariances are singular) follows their recipe: if the square root
of the product is not finite, retry with ``eps·I`` added to both covariances. Unlike
them, a large imaginary part is not an error but another reason to retry, and the real
part is taken in the end, so the result is never NaN for finite inputs.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from hcvg.errors import require

require("scipy", "models", "the Fréchet distance (FID, FVD)")  # clean-fid brings scipy
from scipy import linalg  # noqa: E402

logger = logging.getLogger(__name__)

#: Offset added to both covariances' diagonals when their product is near-singular
#: (pytorch-fid's and clean-fid's value).
DEFAULT_EPS = 1e-6

# pytorch-fid and clean-fid reject a square root whose diagonal has an imaginary part
# above this; we retry with the eps offset instead.
_IMAG_ATOL = 1e-3


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature set, in float64.

    Args:
        features: float ``[N, D]`` features, one row per sample (frame or clip), N >= 2.

    Returns:
        ``(mu, sigma)``: float64 ``[D]`` mean and float64 ``[D, D]`` covariance with the
        ``N − 1`` normalization (``np.cov(features, rowvar=False)``, as pytorch-fid,
        clean-fid and torchmetrics use).

    Raises:
        ValueError: If ``features`` is not 2-D, has fewer than 2 rows, or is not finite.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {features.shape}")
    if len(features) < 2:
        raise ValueError(f"a covariance needs at least 2 feature vectors, got {len(features)}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf")
    mu = features.mean(axis=0)
    sigma = np.atleast_2d(np.cov(features, rowvar=False))
    return mu, sigma


def statistics_from_sums(n: int, s: np.ndarray, ss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance from a feature set's sums, in float64.

    The sums are what a sharded or multi-rank metric keeps (they merge by addition):
    ``mu = s / n`` and ``sigma = (ss − n·mu·muᵀ) / (n − 1)``, equal to `feature_statistics`
    of the rows up to rounding. The subtraction cancels where means are large against
    standard deviations; for Inception pool3 (non-negative, ~0–5) and I3D logits (~±10)
    the covariance still agrees with ``np.cov`` to ~1e-14 relative (tests/test_frechet.py
    asserts 1e-12), so the sums are taken about the origin, not about a shift.

    Args:
        n: Number of rows summed, >= 2.
        s: float ``[D]`` sum of the rows, ``Σx``.
        ss: float ``[D, D]`` sum of their outer products, ``Σx·xᵀ``.

    Returns:
        ``(mu, sigma)``: float64 ``[D]`` mean and float64 ``[D, D]`` covariance with the
        ``n − 1`` normalization, symmetric.

    Raises:
        ValueError: If ``n`` < 2, the shapes are not ``[D]`` and ``[D, D]``, or a sum is
            not finite.
    """
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    ss = np.atleast_2d(np.asarray(ss, dtype=np.float64))
    if int(n) != n or n < 2:
        raise ValueError(f"a covariance needs at least 2 feature vectors, got n={n}")
    dim = s.shape[0]
    if s.shape != (dim,) or ss.shape != (dim, dim):
        raise ValueError(f"expected a sum [D] and an outer-product sum [D, D] of one D; got {s.shape} and {ss.shape}")
    if not (np.isfinite(s).all() and np.isfinite(ss).all()):
        raise ValueError("feature sums contain NaN or inf")
    mu = s / n
    sigma = (ss - n * np.outer(mu, mu)) / (n - 1)
    # Summation order can leave the two triangles a rounding step apart; sqrtm wants symmetry.
    return mu, (sigma + sigma.T) / 2.0


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """``sqrtm(sigma1 @ sigma2)``, possibly complex, possibly non-finite.

    scipy warns when the product is singular; the caller checks the result instead.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(linalg.sqrtm(sigma1 @ sigma2))


def _is_usable(covmean: np.ndarray) -> bool:
    if not np.isfinite(covmean).all():
        return False
    return not np.iscomplexobj(covmean) or np.allclose(np.diagonal(covmean).imag, 0, atol=_IMAG_ATOL)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = DEFAULT_EPS
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1: float ``[D]`` mean of the first set (e.g. generated features).
        sigma1: float ``[D, D]`` covariance of the first set.
        mu2: float ``[D]`` mean of the second set (e.g. ground-truth features).
        sigma2: float ``[D, D]`` covariance of the second set.
        eps: Offset added to both diagonals when ``sqrtm(sigma1 @ sigma2)`` is not
            finite or has a large imaginary part (singular covariances).

    Returns:
        The squared distance d², >= 0 up to rounding (a set against itself gives ~0).

    Raises:
        ValueError: If the shapes disagree or an input is not finite.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"expected means [D] and covariances [D, D] of one D; got mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
            f"mu2 {mu2.shape}, sigma2 {sigma2.shape}"
        )
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("means and covariances must be finite")

    covmean = _sqrtm_product(sigma1, sigma2)
    if not _is_usable(covmean):
        # Singular product (e.g. fewer samples than dimensions): regularize, as the
        # reference implementations do.
        logger.info("Fréchet distance: near-singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(dim) * eps
        covmean = _sqrtm_product(sigma1 + offset, sigma2 + offset)
        if not np.isfinite(covmean).all():
            raise FloatingPointError(f"sqrtm of the covariance product is not finite even with eps={eps}")
    tr_covmean = float(np.trace(covmean).real)

    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance_from_features(features1: np.ndarray, features2: np.ndarray, eps: float = DEFAULT_EPS) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets.

    Args:
        features1: float ``[N1, D]`` features, N1 >= 2.
        features2: float ``[N2, D]`` features, N2 >= 2.
        eps: See `frechet_distance`.

    Returns:
        The squared distance d².
    """
    mu1, sigma1 = feature_statistics(features1)
    mu2, sigma2 = feature_statistics(features2)
    return frechet_distance(mu1, sigma1, mu2, sigma2, eps=eps)
