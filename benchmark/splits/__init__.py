"""Splits: the registry of named sample sets.

A registered split is a factory ``(**options) -> Split``.
"""

from __future__ import annotations

from typing import Any, Callable

from benchmark.splits.base import InMemorySplit, Split
from handi.registry import Registry

SplitFactory = Callable[..., Split]

SPLITS: Registry[SplitFactory] = Registry("split")

# The one list of built-in splits, resolved only when asked for.
SPLITS.register("demo", "benchmark.splits.demo_split:build_demo_split")


def load_split(name: str, registry: Registry[SplitFactory] = SPLITS, **options: Any) -> Split:
    """Build the split registered as ``name``.

    Raises:
        UnknownNameError: If no split has that name.
    """
    split = registry.get(name)(**options)
    if not isinstance(split, Split):
        raise TypeError(f"split {name!r} built {type(split).__name__}, which is not a Split")
    return split


__all__ = ["InMemorySplit", "SPLITS", "Split", "load_split"]
