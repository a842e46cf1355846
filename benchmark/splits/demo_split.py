"""Registers the generated demo clips (`benchmark.splits.demo`) as the `demo` split."""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmark.splits.base import InMemorySplit
from benchmark.splits.demo import DemoConfig, load_demo_split


def build_demo_split(**options: Any) -> InMemorySplit:
    """The `demo` split: synthetic egocentric clips, generated deterministically.

    Args:
        **options: Fields of `DemoConfig` (num_samples, seed, ...), as strings or values.
    """
    fields = {f.name: f.type for f in dataclasses.fields(DemoConfig)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise TypeError(f"split 'demo' has no option(s) {unknown}; known: {sorted(fields)}")
    defaults = DemoConfig()
    # CLI options arrive as strings: coerce them to the type of the default.
    typed = {k: type(getattr(defaults, k))(v) for k, v in options.items()}
    config = dataclasses.replace(defaults, **typed)
    samples = load_demo_split(config)
    return InMemorySplit("demo", samples, {"generator": "benchmark.splits.demo", **dataclasses.asdict(config)})
