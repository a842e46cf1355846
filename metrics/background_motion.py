"""Background motion ratio: how much of a generated video's motion happens off the hand.

The HANDI paper argues with optical-flow figures that its videos move where the hand
acts and keep the background still. This metric makes that a number: dense Farnebäck
flow (`metrics.optical_flow.dense_flow`) between consecutive frames of
``context, gen_1, ..., gen_L`` (L flows, so the first generated frame's jump away from
the context counts too), then

    ratio = mean flow magnitude outside the GT motion area
            / mean flow magnitude inside it,

each mean taken over all pixels of all L flows together (not per flow, so that a
nearly static pair cannot blow up the ratio). Lower is better: ~0 when only the motion
area moves, ~1 or more when the whole frame moves alike (camera motion, flicker).

If the inside mean is below ``eps`` (no hand motion to compare with), the ratio is 0
when the outside is below ``eps`` as well (a static video scores exactly 0) and
``outside / eps`` otherwise (moving only the background is penalized, not rewarded).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metrics.base import MetricUndefined, SampleMetric, ScoredItem
from metrics.optical_flow import FLOW_CONFIG, FarnebackConfig, dense_flow, flow_magnitude

EPS_PX = 1e-3


def motion_ratio(magnitudes: np.ndarray, motion_area: np.ndarray, eps: float = EPS_PX) -> float:
    """Mean flow magnitude outside the mask over the mean inside it.

    Args:
        magnitudes: float ``[T, H, W]`` per-pixel flow lengths in pixels, >= 0.
        motion_area: bool ``[H, W]`` mask (True = inside).
        eps: Floor in pixels for the inside mean (see the module docstring).

    Returns:
        The ratio, >= 0.

    Raises:
        MetricUndefined: If the mask is empty or covers every pixel.
    """
    inside = motion_area.astype(bool, copy=False)
    if not inside.any():
        raise MetricUndefined("the motion-area mask is empty; no motion inside to compare with")
    if inside.all():
        raise MetricUndefined("the motion area covers the whole frame; there is no background motion to measure")
    # float64 means over up to 15 x 65k values; float32 sums would drift.
    mean_in = float(magnitudes[:, inside].mean(dtype=np.float64))
    mean_out = float(magnitudes[:, ~inside].mean(dtype=np.float64))
    if mean_in < eps:
        return 0.0 if mean_out < eps else mean_out / eps
    return mean_out / mean_in


def background_motion_ratio(
    generated: np.ndarray,
    context: np.ndarray,
    motion_area: np.ndarray,
    eps: float = EPS_PX,
    flow_config: FarnebackConfig = FLOW_CONFIG,
) -> float:
    """`motion_ratio` of the flows along ``context, gen_1, ..., gen_L``.

    Args:
        generated: uint8 ``[L, H, W, 3]`` clip in [0, 255].
        context: uint8 ``[H, W, 3]`` context frame.
        motion_area: bool ``[H, W]`` GT motion-area mask.
        eps: Floor in pixels for the inside mean.
        flow_config: Farnebäck parameters.

    Returns:
        The background motion ratio, >= 0.

    Raises:
        MetricUndefined: If the mask is empty or covers every pixel.
        ValueError: On mismatched shapes.
    """
    if generated.ndim != 4 or generated.shape[1:] != context.shape or motion_area.shape != context.shape[:2]:
        raise ValueError(
            f"want generated [L, H, W, 3], context [H, W, 3] and mask [H, W] of one size, got "
            f"{list(generated.shape)}, {list(context.shape)} and {list(motion_area.shape)}"
        )
    sequence = np.concatenate([context[None], generated], axis=0)
    return motion_ratio(flow_magnitude(dense_flow(sequence, flow_config)), motion_area, eps)


class BackgroundMotionRatio(SampleMetric):
    """Flow outside the GT motion area relative to flow inside it (lower is better, >= 0).

    Args:
        eps: Floor in pixels for the mean flow inside the motion area.
    """

    name: ClassVar[str] = "background-motion"
    higher_is_better: ClassVar[bool] = False
    needs_motion_area: ClassVar[bool] = True

    def __init__(self, eps: float = EPS_PX):
        self.eps = float(eps)

    def score(self, item: ScoredItem) -> float:
        if item.motion_area is None:
            raise MetricUndefined(f"{self.name} needs the GT motion-area mask, and sample {item.sample_id!r} has none")
        return background_motion_ratio(item.generated, item.context, item.motion_area, self.eps)

    def config(self) -> dict:
        return {
            "flow": "cv2.calcOpticalFlowFarneback",
            "flow_params": FLOW_CONFIG.to_dict(),
            "sequence": "context, gen_1, ..., gen_L (L flows)",
            "ratio": "mean |flow| outside GT motion area / mean |flow| inside, over all flows together",
            "eps_px": self.eps,
            "below_eps": "0 if outside < eps too, else outside / eps",
        }
