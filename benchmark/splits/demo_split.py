"""Registers the generated demo clips (`benchmark.splits.demo`) as the `demo` split."""

from __future__ import annotations

import dataclasses
from typing import Any

from benchmark.splits.demo import DemoConfig, load_demo_split
from hcvg.options import options_from
from hcvg.splits import InMemorySplit


@options_from(DemoConfig)
def build_demo_split(**options: Any) -> InMemorySplit:
    """The `demo` split: synthetic egocentric clips, generated deterministically.

    Args:
        **options: Fields of `DemoConfig` (num_samples, seed, ...). Through the split
            registry they arrive typed by its annotations (`hcvg.options`); tuple fields
            take "|"-separated items on the command line (``actions=cut|push``).
    """
    config = DemoConfig(**options)
    samples = load_demo_split(config)
    return InMemorySplit("demo", samples, {"generator": "benchmark.splits.demo", **dataclasses.asdict(config)})
