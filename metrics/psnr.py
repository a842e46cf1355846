"""PSNR of a generated clip against the ground-truth clip.

Per frame, then averaged over frames (the common convention in video generation, e.g.
the mean of per-frame PSNR reported by image-to-video papers), rather than the PSNR of
the clip's mean MSE: a single badly broken frame then costs what one frame is worth,
and the value does not depend on the clip length.

Identical frames have infinite PSNR. Each frame's value is capped at `PSNR_CAP_DB`, so
the oracle (which returns the target) scores exactly the cap instead of ``inf``, whose
mean would be ``inf`` and whose bootstrap CI would be NaN. 100 dB is an MSE of
≈ 6.5e-6 on the 0..255 scale; the smallest non-zero difference between two 256² RGB
uint8 frames (one value off by one) is ≈ 101 dB, so the cap only merges frames that are
identical or differ in about one value, and every visible difference stays below it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from metrics.base import SampleMetric, ScoredItem

PSNR_CAP_DB = 100.0
DATA_RANGE = 255.0


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``[L, H, W, 3]`` -> float64 ``[L, 3, H, W]`` in [0, 255] (float64: exact MSE of uint8)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float64)


def _check_clips(generated: np.ndarray, target: np.ndarray) -> None:
    if generated.shape != target.shape or generated.ndim != 4 or generated.shape[-1] != 3:
        raise ValueError(
            f"want two uint8 [L, H, W, 3] clips of one shape, got {list(generated.shape)} and {list(target.shape)}"
        )


def psnr_from_mse(mse: np.ndarray | float, data_range: float = DATA_RANGE, cap: float = PSNR_CAP_DB) -> np.ndarray:
    """PSNR from mean squared errors, capped.

    Args:
        mse: float MSE values, >= 0, on the scale of ``data_range``.
        data_range: Peak value of the signal (255 for uint8).
        cap: Upper bound in dB; an MSE of 0 gives exactly ``cap``.

    Returns:
        float64 array of ``mse``'s shape: ``min(10·log10(data_range² / mse), cap)`` in dB.
    """
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):  # mse == 0 -> inf, then capped
        psnr = 10.0 * np.log10(data_range**2 / mse)
    return np.minimum(psnr, cap)


def frame_psnr(generated: np.ndarray, target: np.ndarray, cap: float = PSNR_CAP_DB) -> np.ndarray:
    """Per-frame PSNR, via torchmetrics' functional ``peak_signal_noise_ratio``.

    Args:
        generated: uint8 ``[L, H, W, 3]`` clip in [0, 255].
        target: uint8 ``[L, H, W, 3]`` clip in [0, 255].
        cap: Upper bound per frame in dB.

    Returns:
        float64 ``[L]``: PSNR in dB of each frame over all its pixels and channels,
        ``data_range=255``, at most ``cap``.
    """
    _check_clips(generated, target)
    per_frame = peak_signal_noise_ratio(
        _to_tensor(generated), _to_tensor(target), data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3)
    )
    return np.minimum(per_frame.numpy(), cap)


def clip_psnr(generated: np.ndarray, target: np.ndarray, cap: float = PSNR_CAP_DB) -> float:
    """Mean over frames of the capped per-frame PSNR (see `frame_psnr`), in dB."""
    return float(frame_psnr(generated, target, cap).mean())


class PSNR(SampleMetric):
    """Peak signal-to-noise ratio of the generated clip vs the target, in dB (higher is better).

    Args:
        cap: Per-frame upper bound in dB (identical frames would be infinite).
    """

    name: ClassVar[str] = "psnr"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, cap: float = PSNR_CAP_DB):
        self.cap = float(cap)

    def score(self, item: ScoredItem) -> float:
        return clip_psnr(item.generated, item.target, self.cap)

    def config(self) -> dict:
        return {
            "implementation": "torchmetrics.functional.image.peak_signal_noise_ratio",
            "data_range": DATA_RANGE,
            "input": "uint8 RGB as float64, per frame over H, W and 3 channels",
            "reduction": "mean over frames of per-frame PSNR",
            "cap_db": self.cap,
        }
