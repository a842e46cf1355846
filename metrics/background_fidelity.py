"""Background fidelity: does the model leave the background of the context image alone?

HCVG animates the hand and the objects it touches; everything outside the GT motion
area should stay as the context image shows it. So: PSNR of each generated frame
against the context image over the pixels *outside* the GT motion-area mask, capped like
`metrics.psnr`, mean over frames.

The reference is the context, not the target, on purpose: real footage has camera
motion and lighting changes that a model cannot know about, and this metric asks only
whether the model kept what it was given. (Against the target, a model that copies the
context would be penalized for the camera's motion.)
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metrics.base import MetricUndefined, SampleMetric, ScoredItem
from metrics.psnr import DATA_RANGE, PSNR_CAP_DB, psnr_from_mse


def background_mse(generated: np.ndarray, context: np.ndarray, motion_area: np.ndarray) -> np.ndarray:
    """Per-frame MSE against the context over the pixels outside the motion area.

    Args:
        generated: uint8 ``[L, H, W, 3]`` clip in [0, 255].
        context: uint8 ``[H, W, 3]`` context frame in [0, 255].
        motion_area: bool ``[H, W]`` mask; True pixels are excluded.

    Returns:
        float64 ``[L]``: mean of squared differences over the background pixels and
        their 3 channels, on the 0..255 scale.

    Raises:
        MetricUndefined: If the mask covers every pixel (no background).
        ValueError: On mismatched shapes.
    """
    if generated.ndim != 4 or generated.shape[1:] != context.shape or motion_area.shape != context.shape[:2]:
        raise ValueError(
            f"want generated [L, H, W, 3], context [H, W, 3] and mask [H, W] of one size, got "
            f"{list(generated.shape)}, {list(context.shape)} and {list(motion_area.shape)}"
        )
    background = ~motion_area.astype(bool, copy=False)
    if not background.any():
        raise MetricUndefined("the motion area covers the whole frame; there is no background to compare")
    # int32 differences of uint8 are exact; float64 sums keep the mean exact enough.
    diff = generated[:, background, :].astype(np.int32) - context[background, :].astype(np.int32)
    return (diff.astype(np.float64) ** 2).mean(axis=(1, 2))


def background_psnr(
    generated: np.ndarray, context: np.ndarray, motion_area: np.ndarray, cap: float = PSNR_CAP_DB
) -> float:
    """Mean over frames of the capped background PSNR in dB (see `background_mse`)."""
    return float(psnr_from_mse(background_mse(generated, context, motion_area), DATA_RANGE, cap).mean())


class BackgroundFidelity(SampleMetric):
    """PSNR of the generated frames vs the context outside the GT motion area, in dB (higher is better).

    Args:
        cap: Per-frame upper bound in dB (an untouched background would be infinite).
    """

    name: ClassVar[str] = "background-fidelity"
    higher_is_better: ClassVar[bool] = True
    needs_motion_area: ClassVar[bool] = True

    def __init__(self, cap: float = PSNR_CAP_DB):
        self.cap = float(cap)

    def score(self, item: ScoredItem) -> float:
        if item.motion_area is None:
            raise MetricUndefined(f"{self.name} needs the GT motion-area mask, and sample {item.sample_id!r} has none")
        return background_psnr(item.generated, item.context, item.motion_area, self.cap)

    def config(self) -> dict:
        return {
            "reference": "context image",
            "region": "pixels outside the GT motion-area mask (at 'ma' scope: the cropped mask)",
            "data_range": DATA_RANGE,
            "mse": "per frame, over background pixels and 3 channels, float64",
            "reduction": "mean over frames of per-frame PSNR",
            "cap_db": self.cap,
        }
