"""The metric registry: the one list of built-in metrics, resolved lazily.

Entries are ``"module:Class"`` strings, so listing metrics (``hcvg`` start-up, the CLI's
help) imports neither torch nor any backbone.
"""

from __future__ import annotations

from typing import Any

from hcvg.registry import Registry
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
METRICS.register("clip-gt", "metrics.clip_scores:CLIPGroundTruthScore")
METRICS.register("clip-cs", "metrics.clip_scores:CLIPConsistencyScore")
METRICS.register("egovlp", "metrics.egovlp_score:EgoVLPScore")
METRICS.register("egovlp-ego4d", "metrics.egovlp_score:EgoVLPEgo4DScore")
METRICS.register("clip-tx", "metrics.clip_scores:CLIPTextScore")
METRICS.register("blip-large", "metrics.blip_score:BlipLargeScore")
METRICS.register("blip-base", "metrics.blip_score:BlipBaseScore")
METRICS.register("fid", "metrics.fid:FID")
METRICS.register("fvd", "metrics.fvd:FVD")


def create_metric(name: str, registry: Registry[type[Metric]] = METRICS, **options: Any) -> Metric:
    """Instantiate the metric registered as ``name`` with keyword ``options``.

    Args:
        name: Registered metric name, e.g. "psnr".
        registry: Where to look it up (tests pass a fresh one).
        **options: Keyword arguments of the metric's constructor (CLI strings are
            coerced to its annotated types).

    Returns:
        The metric instance.

    Raises:
        UnknownNameError: If no metric has that name (the message lists close matches).
        OptionError: If an option is not accepted, or its value is not allowed.
        TypeError: If the entry builds something that is not a `Metric`.
    """
    return registry.create(name, **options)
