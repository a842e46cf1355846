"""Dense optical flow (OpenCV Farnebäck), shared by the motion metrics and flow plots.

The parameters are fixed and recorded (`FLOW_CONFIG`) because flow magnitudes, and so
every number built on them, depend on them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FarnebackConfig:
    """Parameters of ``cv2.calcOpticalFlowFarneback`` (OpenCV's documented example values).

    Attributes:
        pyr_scale: Scale between pyramid levels (0.5: each level halves the image).
        levels: Pyramid levels; 3 levels at 0.5 follow motions of up to ~30 px at 256².
        winsize: Averaging window in pixels; larger is more robust to noise but blurs
            flow across motion boundaries by about half of it.
        iterations: Iterations per pyramid level.
        poly_n: Neighbourhood of the per-pixel polynomial expansion.
        poly_sigma: Gaussian sigma of that expansion (1.2 is OpenCV's advice for poly_n=5).
        flags: OpenCV flags; 0 = box window, no initial flow.
        grayscale: How RGB frames are turned into the single channel Farnebäck reads.
    """

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2
    flags: int = 0
    grayscale: str = "cv2.COLOR_RGB2GRAY"

    def to_dict(self) -> dict:
        """Plain dict for the run config."""
        return dataclasses.asdict(self)


FLOW_CONFIG = FarnebackConfig()


def dense_flow(frames: np.ndarray, config: FarnebackConfig = FLOW_CONFIG) -> np.ndarray:
    """Farnebäck flow between each pair of consecutive frames.

    Args:
        frames: uint8 ``[T, H, W, 3]`` RGB frames in [0, 255], T >= 2.
        config: Farnebäck parameters.

    Returns:
        float32 ``[T-1, H, W, 2]``: for pair ``t``, the (dx, dy) displacement in pixels
        that carries each pixel of frame ``t`` to frame ``t+1``. A pair whose grayscale
        frames are identical gets exactly zero flow.

    Raises:
        ValueError: If ``frames`` is not uint8 ``[T, H, W, 3]`` with T >= 2.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"dense_flow wants uint8 [T, H, W, 3] frames, got {frames.dtype} {list(frames.shape)}")
    if frames.shape[0] < 2:
        raise ValueError(f"dense_flow needs at least 2 frames, got {frames.shape[0]}")
    gray = [cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY) for frame in frames]
    flows = np.empty((len(gray) - 1, *gray[0].shape, 2), dtype=np.float32)
    for t in range(len(gray) - 1):
        # Identical frames have no motion by definition, but Farnebäck's border
        # weighting returns up to ~0.25 px in the outermost pixel rows and columns
        # there; skipping the pair makes a static video exactly motionless.
        if np.array_equal(gray[t], gray[t + 1]):
            flows[t] = 0.0
            continue
        flows[t] = cv2.calcOpticalFlowFarneback(
            gray[t],
            gray[t + 1],
            None,
            config.pyr_scale,
            config.levels,
            config.winsize,
            config.iterations,
            config.poly_n,
            config.poly_sigma,
            config.flags,
        )
    return flows


def flow_magnitude(flows: np.ndarray) -> np.ndarray:
    """Per-pixel flow length.

    Args:
        flows: float ``[..., 2]`` (dx, dy) displacements in pixels.

    Returns:
        float32 ``[...]`` Euclidean lengths in pixels, >= 0.
    """
    return np.hypot(flows[..., 0], flows[..., 1]).astype(np.float32, copy=False)
