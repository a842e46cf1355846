"""Fréchet Inception Distance (FID), frame level.

All generated frames against all ground-truth frames, each frame a 2048-d Inception-v3
pool3 vector (extractor "inception-pool3"; its resize mode and weights are in that
extractor's config, default pytorch-fid's as LEGO used). The Gaussian fit and distance
are `metrics.frechet`; this module only holds the features.

`FrechetFeatureDistance` is the shared state of FID and FVD: features are kept per
sample and merge by concatenation (`merge`), so shards reduce to the single-process
value. Ground truth is keyed by sample id and counted once, however many seeds or
metrics passes add it.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from metrics.base import DistributionMetric, MetricUndefined, ScoredItem
from metrics.frechet import DEFAULT_EPS, feature_statistics, frechet_distance

logger = logging.getLogger(__name__)


class FrechetFeatureDistance(DistributionMetric):
    """Fréchet distance between generated and ground-truth features of one extractor.

    Subclasses set ``name``, ``features`` (one extractor) and ``unit`` ("frame": the
    extractor gives ``[T, D]`` per clip and every row counts; "clip": it gives ``[D]``).

    Args:
        eps: Diagonal offset for near-singular covariance products (see
            `metrics.frechet.frechet_distance`).
    """

    higher_is_better: ClassVar[bool] = False
    unit: ClassVar[str] = "frame"

    def __init__(self, eps: float = DEFAULT_EPS):
        self.eps = float(eps)
        self.reset()

    @property
    def feature_name(self) -> str:
        return self.features[0]

    def reset(self) -> None:
        self.generated: list[np.ndarray] = []
        self.target: dict[str, np.ndarray] = {}

    def update(self, item: ScoredItem) -> None:
        """Add the item's generated features and (once per sample) its ground-truth features."""
        self.generated.append(self._rows(item.features[self.feature_name], item.sample_id))
        if item.sample_id not in self.target:
            self.target[item.sample_id] = self._rows(item.target_features[self.feature_name], item.sample_id)

    def merge(self, other: "FrechetFeatureDistance") -> None:
        """Add another shard's state (concatenation; ground truth by sample id)."""
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        self.generated += other.generated
        for sample_id, rows in other.target.items():
            self.target.setdefault(sample_id, rows)

    def compute(self) -> float:
        """The distance between everything added since the last `reset`.

        Raises:
            MetricUndefined: With fewer than 2 generated or 2 ground-truth vectors.
        """
        generated = np.concatenate(self.generated) if self.generated else np.zeros((0, 0))
        target = np.concatenate(list(self.target.values())) if self.target else np.zeros((0, 0))
        if len(generated) < 2 or len(target) < 2:
            raise MetricUndefined(
                f"{self.name} needs at least 2 {self.unit}s on each side, got {len(generated)} generated "
                f"and {len(target)} ground-truth"
            )
        self._check_count(len(generated), len(target))
        mu1, sigma1 = feature_statistics(generated)
        mu2, sigma2 = feature_statistics(target)
        return frechet_distance(mu1, sigma1, mu2, sigma2, eps=self.eps)

    def _check_count(self, num_generated: int, num_target: int) -> None:
        """Hook for warnings about small sets."""

    def _rows(self, features: Any, sample_id: str) -> np.ndarray:
        rows = np.asarray(features, dtype=np.float64)
        rows = rows.reshape(1, -1) if self.unit == "clip" else rows
        if rows.ndim != 2:
            raise ValueError(f"{self.name}: {self.feature_name} features of {sample_id!r} must be [T, D], got {rows.shape}")
        return rows

    def config(self) -> dict:
        return {
            "features": self.feature_name,
            "unit": self.unit,
            "sets": f"all generated {self.unit}s vs all ground-truth {self.unit}s (ground truth once per sample)",
            "statistics": "float64 mean and unbiased covariance (np.cov)",
            "distance": "||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)), scipy.linalg.sqrtm, real part",
            "singular_eps": self.eps,
        }


class FID(FrechetFeatureDistance):
    """FID: all generated frames vs all ground-truth frames, Inception-v3 pool3 features."""

    name: ClassVar[str] = "fid"
    features: ClassVar[tuple[str, ...]] = ("inception-pool3",)
    unit: ClassVar[str] = "frame"
