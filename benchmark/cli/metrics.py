"""`hcvg metrics list`: the registered metrics, and with --verbose what each one needs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from benchmark.cli.base import Subcommand, aligned

if TYPE_CHECKING:
    from hcvg.registry import Registry


class MetricsCommand(Subcommand):
    name = "metrics"
    help = "List registered metrics; with --verbose their direction, level, features and weights."
    description = """Without --verbose only the names are listed: reading a metric's declarations means
importing its module, and some import torch (seconds). With --verbose each metric's class
is loaded and each feature extractor it reads is built with its default options, exactly
as `hcvg run` builds it, so "weights" says whether a run would score the metric or skip it
(and why; `hcvg assets list` says where each file is looked for)."""
    epilog = """examples:
  hcvg metrics list
  hcvg metrics list --verbose
  hcvg metrics list 'clip-*' --verbose"""

    def __init__(self, metrics: "Registry | None" = None, features: "Registry | None" = None):
        # None: the global registries, imported when the command runs.
        self.metrics = metrics
        self.features = features

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["list"], help="what to do")
        parser.add_argument("pattern", nargs="?", default="*", help="shell-style name filter (default: *)")
        # dest differs from the global -v (a logging level), which would otherwise be overwritten.
        parser.add_argument("--verbose", dest="details", action="store_true",
                            help="also load each metric (imports torch) and build its feature extractors")

    def run(self, args: argparse.Namespace) -> int:
        metrics, features = self._registries()
        names = metrics.names(args.pattern)
        if not args.details:
            for name in names:
                print(name)
            print("(`hcvg metrics list --verbose` adds direction, level, features and whether weights are present)")
            return 0
        rows = [("metric", "↑↓", "level", "features", "weights")]
        available: dict[str, str] = {}
        for name in names:
            rows.append(describe_metric(name, metrics, features, available))
        for line in aligned(rows):
            print(line)
        if any(row[-1].startswith("MISSING") for row in rows):
            print("(a run skips the metrics with missing weights; `hcvg assets list` says where each file is looked for)")
        return 0

    def _registries(self) -> tuple["Registry", "Registry"]:
        if self.metrics is not None and self.features is not None:
            return self.metrics, self.features
        from metrics.features.registry import FEATURES
        from metrics.registry import METRICS

        return self.metrics or METRICS, self.features or FEATURES


def describe_metric(name: str, metrics: "Registry", features: "Registry", available: dict[str, str]) -> tuple[str, ...]:
    """One row of `metrics list --verbose`: name, ↑/↓, level, features, weights.

    Args:
        name: Registered metric name.
        metrics: The metric registry.
        features: The feature-extractor registry.
        available: Extractor name → "present" or why it cannot be built; filled as
            extractors are tried, so each is built once however many metrics read it.
    """
    try:
        cls = metrics.get(name)
    except Exception as err:  # a metric that cannot be loaded must not hide the others
        return (name, "?", "?", "?", f"cannot be loaded: {type(err).__name__}: {_first_line(err)}")
    needed = tuple(getattr(cls, "features", ()))
    for extractor in needed:
        if extractor not in available:
            available[extractor] = _try_build(extractor, features)
    missing = [f"{e}: {available[e]}" for e in needed if available[e] != "present"]
    weights = "none needed" if not needed else ("present" if not missing else "MISSING " + "; ".join(missing))
    arrow = "↑" if cls.higher_is_better else "↓"
    return (name, arrow, cls.level, ", ".join(needed) or "-", weights)


def _try_build(extractor: str, features: "Registry") -> str:
    from hcvg.assets import AssetNotFoundError

    try:
        features.create(extractor)
    except AssetNotFoundError as err:  # "clip-vit-l-14: could not find clip-vit-large-patch14/config.json"
        return _first_line(err).split(" (")[0]
    except Exception as err:  # anything else a run would skip the metric for, reported in the row
        return f"{type(err).__name__}: {_first_line(err)}"
    return "present"


def _first_line(err: Any) -> str:
    return (str(err).splitlines() or [""])[0]
