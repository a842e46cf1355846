"""Registers the generated demo clips (`benchmark.splits.demo`) as the `demo` split."""

from __future__ import annotations

import dataclasses
from typing import Any

from hcvg.splits import InMemorySplit
from hcvg.errors import InvalidInputError, UnknownOptionError
from benchmark.splits.demo import DemoConfig, load_demo_split


def build_demo_split(**options: Any) -> InMemorySplit:
    """The `demo` split: synthetic egocentric clips, generated deterministically.

    Args:
        **options: Fields of `DemoConfig` (num_samples, seed, ...), as values or CLI
            strings; tuple fields take "|"-separated items (``actions=cut|push``).
    """
    fields = {f.name: f.type for f in dataclasses.fields(DemoConfig)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise UnknownOptionError(f"split 'demo' has no option(s) {unknown}; known: {sorted(fields)}")
    defaults = DemoConfig()
    typed = {}
    for key, value in options.items():
        try:
            typed[key] = _coerce(value, getattr(defaults, key))
        except ValueError as err:
            kind = type(getattr(defaults, key)).__name__
            raise InvalidInputError(f"split 'demo': option {key}={value!r} is not a valid {kind} ({err})") from err
    config = dataclasses.replace(defaults, **typed)
    samples = load_demo_split(config)
    return InMemorySplit("demo", samples, {"generator": "benchmark.splits.demo", **dataclasses.asdict(config)})


def _coerce(value: Any, default: Any) -> Any:
    """CLI options arrive as strings: convert to the default's type ("a|b" for tuples)."""
    if not isinstance(value, str):
        return value
    if isinstance(default, tuple):
        item_type = type(default[0]) if default else str
        return tuple(item_type(item.strip()) for item in value.split("|"))
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes")
    return type(default)(value)
