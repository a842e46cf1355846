"""SSIM of a generated clip against the ground-truth clip.

torchmetrics' functional ``structural_similarity_index_measure`` with the original
paper's settings (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03),
on RGB (the per-channel SSIM maps are averaged, as torchmetrics does), mean over frames.
All frames of a clip go through one batched call, in float64. Each variance is a
local mean of squares (up to 255² = 65025) minus a squared mean, so float32 rounding of
those means (~1e-3) is large beside a flat region's variance; in float32, identical
real frames scored 1 − 5e-5 (0.99999), in float64 1 − 3e-15. The price: torch's CPU
convolutions run about 10× slower in float64 than in float32.

NOTE: torchmetrics (1.9) reflect-pads each image by half the window and averages the
whole SSIM map, borders included (skimage and the original MATLAB code average only
the windows that fit inside), and it derives the Gaussian window's side from sigma,
``int(3.5 * sigma + 0.5) * 2 + 1`` = 11 for sigma 1.5, ignoring ``kernel_size``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from metrics.base import SampleMetric, ScoredItem

DATA_RANGE = 255.0
SIGMA = 1.5
KERNEL_SIZE = int(3.5 * SIGMA + 0.5) * 2 + 1  # 11: the side torchmetrics derives from SIGMA


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``[L, H, W, 3]`` -> float64 ``[L, 3, H, W]`` in [0, 255] (see the module's note on precision)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float64)


def frame_ssim(generated: np.ndarray, target: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """Per-frame SSIM with a Gaussian window.

    Args:
        generated: uint8 ``[L, H, W, 3]`` clip in [0, 255]; H and W larger than half
            the window (reflect padding needs it).
        target: uint8 ``[L, H, W, 3]`` clip in [0, 255].
        sigma: Standard deviation of the Gaussian window in pixels (its side follows
            from it, see the module's note).

    Returns:
        float64 ``[L]``: SSIM of each frame, in [-1, 1] (1 for identical frames, up to
        float64 rounding, ~1e-15).

    Raises:
        ValueError: If the clips differ in shape or are not ``[L, H, W, 3]``.
    """
    if generated.shape != target.shape or generated.ndim != 4 or generated.shape[-1] != 3:
        raise ValueError(
            f"want two uint8 [L, H, W, 3] clips of one shape, got {list(generated.shape)} and {list(target.shape)}"
        )
    per_frame = structural_similarity_index_measure(
        _to_tensor(generated),
        _to_tensor(target),
        gaussian_kernel=True,
        sigma=sigma,
        reduction="none",
        data_range=DATA_RANGE,
    )
    return per_frame.numpy()


def clip_ssim(generated: np.ndarray, target: np.ndarray) -> float:
    """Mean over frames of `frame_ssim` with the default window."""
    return float(frame_ssim(generated, target).mean())


class SSIM(SampleMetric):
    """Structural similarity of the generated clip vs the target (higher is better, at most 1)."""

    name: ClassVar[str] = "ssim"
    higher_is_better: ClassVar[bool] = True

    def score(self, item: ScoredItem) -> float:
        return clip_ssim(item.generated, item.target)

    def config(self) -> dict:
        return {
            "implementation": "torchmetrics.functional.image.structural_similarity_index_measure",
            "gaussian_kernel": True,
            "kernel_size": KERNEL_SIZE,
            "sigma": SIGMA,
            "k1": 0.01,
            "k2": 0.03,
            "data_range": DATA_RANGE,
            "input": "uint8 RGB as float64 in [0, 255]; channel SSIM maps averaged",
            "borders": "reflect-padded, whole SSIM map averaged (torchmetrics)",
            "reduction": "mean over frames",
        }
