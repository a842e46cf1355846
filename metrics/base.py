"""The metric contract.

A metric reads one `ScoredItem` (a generated clip and its references, already
cropped to a scope) and returns a float. Per-sample metrics return one value per
item; distribution-level metrics (FID, FVD) accumulate state with `update` and
reduce with `compute`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar, Literal

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
    """

    sample_id: str
    scope: Scope
    generated: np.ndarray
    target: np.ndarray
    context: np.ndarray
    motion_area: np.ndarray | None
    prompt: str


class MetricUndefined(ValueError):
    """The metric has no value for this item (e.g. an empty motion area). Recorded, not fatal."""


class Metric(abc.ABC):
    """Base class of all metrics.

    Class attributes:
        name: Registered name (kebab-case), also the column label in tables.
        higher_is_better: Direction, shown as an arrow in leaderboards.
        level: "sample" (one value per item) or "distribution" (one value per set).
        needs_motion_area: The metric reads ``item.motion_area``.
    """

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    level: ClassVar[Literal["sample", "distribution"]] = "sample"
    needs_motion_area: ClassVar[bool] = False

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
