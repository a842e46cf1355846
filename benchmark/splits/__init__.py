"""Splits: the registry of named sample sets.

A registered split is a factory ``(**options) -> Split``.
"""

from __future__ import annotations

from typing import Any, Callable

from benchmark.splits.annotated import AnnotatedSplit, HandAnnotationStore
from hcvg.options import coerce_options
from hcvg.splits import InMemorySplit, Split
from hcvg.registry import Registry

SplitFactory = Callable[..., Split]

SPLITS: Registry[SplitFactory] = Registry("split")

# The one list of built-in splits, resolved only when asked for.
SPLITS.register("demo", "benchmark.splits.demo_split:build_demo_split")
SPLITS.register("motion-intensive", "benchmark.splits.motion_intensive:build_motion_intensive")
SPLITS.register("ek100-motion-intensive", "benchmark.splits.motion_intensive:build_ek100_motion_intensive")
# Real data: each reads a clip cache prepared by `hcvg data prepare` (option cache=DIR).
SPLITS.register("ek100-train", "benchmark.datasets.epic_kitchens:ek100_train")
SPLITS.register("ek100-test", "benchmark.datasets.epic_kitchens:ek100_test")
SPLITS.register("ego4d-train", "benchmark.datasets.ego4d:ego4d_train")
SPLITS.register("ego4d-test", "benchmark.datasets.ego4d:ego4d_test")


def load_split(name: str, registry: Registry[SplitFactory] = SPLITS, hands: str | None = None, **options: Any) -> Split:
    """Build the split registered as ``name``.

    Args:
        name: Registered split name.
        registry: Where to look it up (tests pass a fresh one).
        hands: Directory written by `hcvg masks build`: samples then carry the detector's
            keypoints and motion areas (ground truth computed once per split).
        **options: The split's own options.

    Raises:
        UnknownNameError: If no split has that name.
        OptionError: If the split does not take an option, or a value is not allowed.
    """
    factory = registry.get(name)
    if hands and getattr(factory, "passes_hands", False):  # derived splits annotate their base
        options, hands = {**options, "hands": hands}, None
    split = registry.create(name, **options)  # options are coerced to the factory's types
    if not isinstance(split, Split):
        raise TypeError(f"split {name!r} built {type(split).__name__}, which is not a Split")
    if hands:
        split = AnnotatedSplit(split, HandAnnotationStore(hands))
    return split


def coerce_split_options(name: str, options: dict[str, Any], registry: Registry[SplitFactory] = SPLITS) -> dict[str, Any]:
    """The options of `load_split` for ``name``, checked and typed (at the CLI edge).

    ``hands`` is `load_split`'s own option (every split takes it); the rest are the
    split factory's, coerced by its signature.

    Raises:
        UnknownNameError: If no split has that name.
        OptionError: If the split does not take an option, or a value is not allowed.
    """
    own = {k: v for k, v in options.items() if k != "hands"}
    typed = registry.coerce(name, own)
    if "hands" in options:
        typed["hands"] = coerce_options(load_split, {"hands": options["hands"]}, f"split {name!r}", require_all=False)["hands"]
    return typed


__all__ = ["InMemorySplit", "SPLITS", "Split", "coerce_split_options", "load_split"]
