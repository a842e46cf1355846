"""Feature sets with the value ranges of the Fréchet backbones, for the state and merge tests.

Random draws, not network outputs, but shaped like them: what matters to the sums' rounding
is the ratio of means to spreads and the rank of the covariance.
"""

from __future__ import annotations

import numpy as np


def inception_like(n: int, dim: int = 2048, seed: int = 0) -> np.ndarray:
    """Inception-v3 pool3-like rows: non-negative (ReLU then average pool), mostly 0–5, correlated.

    Returns:
        float32 ``[n, dim]``.
    """
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 64)) @ (rng.normal(size=(64, dim)) / 8) + rng.normal(0.3, 0.3, size=dim)
    return (np.maximum(latent, 0.0) * rng.uniform(0.3, 1.5, size=dim)).astype(np.float32)


def i3d_like(n: int, dim: int = 400, seed: int = 0) -> np.ndarray:
    """I3D Kinetics-400 logit-like rows: per-class offsets of a few units, values within about ±20.

    Returns:
        float32 ``[n, dim]``, full-rank covariance (a 64-d shared part plus per-class noise).
    """
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 64)) @ (rng.normal(size=(64, dim)) / 4) * 1.5
    return (shared + rng.normal(0, 4, size=dim) + rng.normal(size=(n, dim))).astype(np.float32)
