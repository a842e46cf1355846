"""Frame preprocessing shared by the image and video backbones (CLIP, BLIP, EgoVLP).

Each backbone states its own protocol (size, interpolation, normalization) and calls
`preprocess_frames` with it, so the choices live in one place per backbone and the
pixel arithmetic in one place for all.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: OpenAI CLIP's normalization, also used by BLIP.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: ImageNet's normalization, used by EgoVLP (Frozen in Time).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Interpolation = Literal["bicubic", "bilinear"]


def check_clip(video: np.ndarray) -> None:
    """Raise a ValueError unless ``video`` is a uint8 ``[T, H, W, 3]`` clip with T >= 1."""
    if not isinstance(video, np.ndarray) or video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        got = f"{video.dtype} {list(video.shape)}" if isinstance(video, np.ndarray) else type(video).__name__
        raise ValueError(f"want a uint8 [T, H, W, 3] RGB clip, got {got}")
    if len(video) == 0:
        raise ValueError("the clip has no frames")


def preprocess_frames(
    frames: np.ndarray,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    interpolation: Interpolation = "bicubic",
    antialias: bool = False,
    pil_like: bool = False,
) -> torch.Tensor:
    """Resize frames to ``size × size`` (no crop) and normalize them.

    Args:
        frames: uint8 ``[T, H, W, 3]`` RGB frames in [0, 255].
        size: Output side in pixels.
        mean: Per-channel mean subtracted after scaling to [0, 1].
        std: Per-channel standard deviation divided by.
        interpolation: "bicubic" or "bilinear".
        antialias: Low-pass when shrinking, as PIL does (True), or sample the input
            pixels directly, as ``torch.nn.functional.interpolate`` and torchvision's
            tensor ``Resize`` (before 0.17) do (False).
        pil_like: Emulate an 8-bit PIL resize: the result is clamped to [0, 1] and
            rounded to multiples of 1/255 before normalizing.

    Returns:
        float32 ``[T, 3, size, size]``, normalized. Frames already at ``size × size``
        are not resampled.
    """
    check_clip(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode=interpolation, align_corners=False, antialias=antialias)
        if pil_like:
            x = (x.clamp_(0.0, 1.0) * 255.0).round_() / 255.0
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def resample_indices(num_frames: int, target: int) -> np.ndarray:
    """Indices of ``target`` frames spread evenly over ``num_frames`` (repeats when upsampling).

    Args:
        num_frames: Frames available, >= 1.
        target: Frames wanted, >= 1.

    Returns:
        int64 ``[target]``, non-decreasing, first 0 and last ``num_frames - 1``.
    """
    if num_frames < 1 or target < 1:
        raise ValueError(f"want at least one frame in and out, got {num_frames} -> {target}")
    return np.round(np.linspace(0, num_frames - 1, target)).astype(np.int64)
