"""The dataset registry: one segment loader per real dataset, for `hcvg data prepare`.

Every entry has the signature of `SegmentLoader`: the options common to all datasets
(``root``, ``split``, ``annotations``, ``lego_split``, ``test_fraction``) plus its own
keyword options (EPIC-KITCHENS: ``source``, ``split_method``), and returns a
`SegmentSelection`. The loaders are registered lazily, so listing the datasets (the
choices of ``--dataset``) reads no annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from benchmark.datasets.segments import Segment
from hcvg.registry import Registry


@dataclass
class SegmentSelection:
    """The action segments of one dataset split, ready to be cut into a clip cache.

    Attributes:
        segments: The chosen segments, in annotation order.
        description: JSON-able account of how they were chosen (stored in the cache).
        side: The benchmark split they feed, "train" or "test".
    """

    segments: list[Segment]
    description: dict[str, Any]
    side: Literal["train", "test"]


class SegmentLoader(Protocol):
    """What every registered dataset is: a function from the split's options to segments."""

    def __call__(
        self,
        root: Path,
        split: str,
        annotations: Path | None = None,
        lego_split: Path | None = None,
        test_fraction: float = ...,
        **dataset_options: Any,
    ) -> SegmentSelection: ...


DATASETS: Registry[SegmentLoader] = Registry("dataset")

# The one list of datasets, resolved only when asked for.
DATASETS.register("ek100", "benchmark.datasets.epic_kitchens:select_segments")
DATASETS.register("ego4d", "benchmark.datasets.ego4d:select_segments")
