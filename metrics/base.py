"""The metric contract.

A metric reads one `ScoredItem` (a generated clip and its references, already
cropped to a scope) and returns a float. Per-sample metrics return one value per
item; distribution-level metrics (FID, FVD) accumulate state with `update` and
reduce with `compute`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

Scope = Literal["full", "ma"]
SCOPES: tuple[Scope, ...] = ("full", "ma")


@dataclass(frozen=True, eq=False)
class ScoredItem:
    """A generated clip with its references, at one scope.

    Attributes:
        sample_id: Benchmark sample id.
        scope: "full" (whole frame) or "ma" (cropped to the GT motion area's box).
        generated: uint8 ``[L, H, W, 3]`` generated frames.
        target: uint8 ``[L, H, W, 3]`` ground-truth frames.
        context: uint8 ``[H, W, 3]`` context frame.
        motion_area: bool ``[H, W]`` GT motion-area mask, or None if unknown.
        prompt: Action text.
        features: Extractor name → features of ``generated`` (see `Metric.features`).
        target_features: Extractor name → features of ``target``.
    """

    sample_id: str
    scope: Scope
    generated: np.ndarray
    target: np.ndarray
    context: np.ndarray
    motion_area: np.ndarray | None
    prompt: str
    features: dict[str, Any] = field(default_factory=dict)
    target_features: dict[str, Any] = field(default_factory=dict)


class MetricUndefined(ValueError):
    """The metric has no value for this item (e.g. an empty motion area). Recorded, not fatal."""


class Metric(abc.ABC):
    """Base class of all metrics.

    Class attributes:
        name: Registered name (kebab-case), also the column label in tables.
        higher_is_better: Direction, shown as an arrow in leaderboards.
        level: "sample" (one value per item) or "distribution" (one value per set).
        needs_motion_area: The metric reads ``item.motion_area``.
        features: Names of the feature extractors whose outputs the metric reads from
            ``item.features`` (generated clip) and ``item.target_features`` (ground truth).
        generated_only: Of ``features``, those read from ``item.features`` alone, never
            from ``item.target_features``: the scorer does not run their extractor on the
            ground truth for this metric (BLIP's captioner is the costliest backbone, and
            the BLIP score never looks at the ground truth's captions).
    """

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    level: ClassVar[Literal["sample", "distribution"]] = "sample"
    needs_motion_area: ClassVar[bool] = False
    features: ClassVar[tuple[str, ...]] = ()
    generated_only: ClassVar[tuple[str, ...]] = ()

    def config(self) -> dict:
        """Every preprocessing choice, written into the run config."""
        return {}


class SampleMetric(Metric):
    """A metric with one value per item."""

    level: ClassVar[Literal["sample"]] = "sample"

    @abc.abstractmethod
    def score(self, item: ScoredItem) -> float:
        """Score one item.

        Raises:
            MetricUndefined: If the metric has no value for this item.
        """


class DistributionMetric(Metric):
    """A metric over a set of clips (FID, FVD): accumulate with `update`, reduce with `compute`.

    State must reduce by concatenation or sum, so shards merge to the single-process number.
    """

    level: ClassVar[Literal["distribution"]] = "distribution"

    @abc.abstractmethod
    def update(self, item: ScoredItem) -> None:
        """Add one item (its features) to the state."""

    @abc.abstractmethod
    def compute(self) -> float:
        """The metric over everything added since the last `reset`."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget all state."""
