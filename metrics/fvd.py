"""Fréchet Video Distance (FVD): I3D Kinetics-400 logits of 15-frame clips.

Each clip is one 400-d vector (extractor "i3d-logits": frames resized to 224², scaled
to [-1, 1], as StyleGAN-V and the original TF FVD). The state and reduction are FID's
(`metrics.fid.FrechetFeatureDistance`). With fewer videos than about 256 the covariance
estimate is poor (and rank-deficient below 401), so the value is biased upward and
noisy; a warning is logged.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from metrics.fid import FrechetFeatureDistance

logger = logging.getLogger(__name__)

#: Below this many videos on either side, FVD is logged as unreliable.
MIN_RELIABLE_VIDEOS = 256


class FVD(FrechetFeatureDistance):
    """FVD: generated clips vs ground-truth clips, one I3D logit vector per clip."""

    name: ClassVar[str] = "fvd"
    features: ClassVar[tuple[str, ...]] = ("i3d-logits",)
    unit: ClassVar[str] = "clip"

    def _check_count(self, num_generated: int, num_target: int) -> None:
        if min(num_generated, num_target) < MIN_RELIABLE_VIDEOS:
            logger.warning(
                "FVD on %d generated and %d ground-truth videos: below %d videos the value is biased "
                "and noisy; compare it only with FVDs on the same number of videos",
                num_generated, num_target, MIN_RELIABLE_VIDEOS,
            )

    def config(self) -> dict:
        return {**super().config(), "clip_frames": 15, "min_reliable_videos": MIN_RELIABLE_VIDEOS}
