"""Motion-intensive subsets: the clips with the largest motion areas (paper §4.1).

The paper's "Motion Intensive" benchmark is the top 10% of the EPIC-KITCHENS test set
by the area of ``M_video`` (§3.1). Here any split with motion areas can be reduced that
way: ``motion-intensive:base=demo`` or the registered ``ek100-motion-intensive``.
"""

from __future__ import annotations

import math
from typing import Any

from hcvg.errors import InvalidInputError
from hcvg.splits import Split


class MotionIntensiveSplit(Split):
    """The ``ceil(fraction × n)`` samples of ``base`` with the largest motion-area fraction.

    Ties are broken by sample id, so the subset is deterministic; samples keep the base
    split's order.

    Args:
        base: A split whose samples carry motion areas (from the generator, or from
            `hcvg masks build` via the ``hands=DIR`` split option).
        fraction: Share of the base split to keep, in (0, 1].
        name: Name of the derived split.

    Raises:
        ValueError: If a sample has no motion area, or ``fraction`` is out of range.
    """

    def __init__(self, base: Split, fraction: float = 0.1, name: str | None = None):
        if not 0 < fraction <= 1:
            raise InvalidInputError(f"fraction must be in (0, 1], got {fraction}")
        self.base = base
        self.fraction = fraction
        self.name = name or f"{base.name}-motion-intensive"
        self.areas = self._areas()
        count = math.ceil(fraction * len(self.areas))
        ranked = sorted(self.areas, key=lambda i: (-self.areas[i], i))
        keep = set(ranked[:count])
        self._ids = [i for i in base.ids() if i in keep]

    def _areas(self) -> dict[str, float]:
        fractions = getattr(self.base, "motion_area_fractions", None)
        if fractions is not None:  # cached index: no need to load every clip
            return fractions()
        areas = {}
        for sample_id in self.base.ids():
            mask = self.base.get(sample_id).motion_area
            if mask is None:
                raise InvalidInputError(
                    f"split {self.base.name}: sample {sample_id!r} has no motion area; build the masks with "
                    f"`hcvg masks build --split {self.base.name} ...` and pass the split option hands=DIR"
                )
            areas[sample_id] = float(mask.mean())
        return areas

    def ids(self) -> list[str]:
        return list(self._ids)

    def get(self, sample_id: str):
        if sample_id not in set(self._ids):
            raise KeyError(f"split {self.name}: no sample {sample_id!r}")
        return self.base.get(sample_id)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "base": self.base.describe(),
            "rule": f"top ceil({self.fraction} × n) samples by motion-area fraction (paper §4.1)",
            "min_motion_area_fraction": min((self.areas[i] for i in self._ids), default=None),
        }


def build_motion_intensive(base: str = "demo", fraction: float = 0.1, **base_options: Any) -> MotionIntensiveSplit:
    """Factory for the registry: ``motion-intensive:base=NAME,fraction=0.1,<base options>``.

    The options it does not declare go to the base split, which checks them itself.
    """
    from benchmark.splits import load_split

    try:
        fraction = float(fraction)
    except ValueError:
        raise InvalidInputError(f"split 'motion-intensive': fraction={fraction!r} is not a number in (0, 1]") from None
    split = load_split(base, **base_options)
    return MotionIntensiveSplit(split, fraction, name=f"{base}-motion-intensive")


build_motion_intensive.passes_hands = True  # type: ignore[attr-defined]


def build_ek100_motion_intensive(fraction: float = 0.1, **base_options: Any) -> MotionIntensiveSplit:
    """The paper's Motion Intensive benchmark: top 10% of ``ek100-test`` by motion area."""
    split = build_motion_intensive(base="ek100-test", fraction=fraction, **base_options)
    split.name = "ek100-motion-intensive"
    return split


build_ek100_motion_intensive.passes_hands = True  # type: ignore[attr-defined]
