"""The metric registry: the one list of built-in metrics, resolved lazily.

Entries are ``"module:Class"`` strings, so listing metrics (``hcvg`` start-up, the CLI's
help) imports neither torch nor any backbone.
"""

from __future__ import annotations

from typing import Any

from handi.registry import Registry
from metrics.base import Metric

METRICS: Registry[type[Metric]] = Registry("metric", base=Metric)

# The one list of built-in metrics, resolved only when asked for.
METRICS.register("psnr", "metrics.psnr:PSNR")
METRICS.register("ssim", "metrics.ssim:SSIM")
METRICS.register("background-fidelity", "metrics.background_fidelity:BackgroundFidelity")
METRICS.register("background-motion", "metrics.background_motion:BackgroundMotionRatio")
METRICS.register("hs-err", "metrics.hs_err:HandStructureError")
METRICS.register("hand-recall", "metrics.hs_err:HandDetectionRecall")
METRICS.register("hand-precision", "metrics.hs_err:HandDetectionPrecision")


def create_metric(name: str, registry: Registry[type[Metric]] = METRICS, **options: Any) -> Metric:
    """Instantiate the metric registered as ``name`` with keyword ``options``.

    Args:
        name: Registered metric name, e.g. "psnr".
        registry: Where to look it up (tests pass a fresh one).
        **options: Keyword arguments of the metric's constructor.

    Returns:
        The metric instance.

    Raises:
        UnknownNameError: If no metric has that name (the message lists close matches).
        TypeError: If an option is not accepted, or the entry builds something that is
            not a `Metric`.
    """
    cls = registry.get(name)
    try:
        metric = cls(**options)
    except TypeError as err:
        raise TypeError(f"metric {name!r} rejected options {sorted(options)}: {err}") from err
    if not isinstance(metric, Metric):
        raise TypeError(f"metric {name!r} built {type(metric).__name__}, which is not a Metric")
    return metric
