"""Frame operations: clip sampling (paper §4: evenly spaced frames, 256² crops) and still images.

Everything here is RGB uint8; OpenCV reads and writes BGR, so the image helpers convert.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def evenly_spaced_indices(start: int, stop: int, count: int = 16) -> np.ndarray:
    """Indices of ``count`` frames evenly spread over the segment ``[start, stop]``.

    The first index is ``start`` and the last is ``stop`` (both inclusive, as in
    EPIC-KITCHENS' start_frame / stop_frame); the rest are rounded from an even
    linear spacing, so they are unique whenever the segment has at least ``count``
    frames.

    Args:
        start: First frame of the segment.
        stop: Last frame of the segment (inclusive), ``stop >= start``.
        count: Number of frames; frame 0 becomes the context, 1..count-1 the target.

    Returns:
        int64 ``[count]`` non-decreasing frame indices.

    Raises:
        ValueError: If the segment is empty or ``count < 1``.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if stop < start:
        raise ValueError(f"segment [{start}, {stop}] is empty")
    return np.rint(np.linspace(start, stop, count)).astype(np.int64)


def resize_center_crop(frames: np.ndarray, size: int = 256) -> np.ndarray:
    """Resize so the short side is ``size``, then crop the center ``size × size``.

    Args:
        frames: uint8 ``[..., H, W, 3]`` RGB frame or frames.
        size: Output side in pixels.

    Returns:
        uint8 ``[..., size, size, 3]``.
    """
    h, w = frames.shape[-3:-1]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    # INTER_AREA when shrinking avoids aliasing; cubic when enlarging.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    flat = frames.reshape(-1, h, w, frames.shape[-1])
    top, left = (new_h - size) // 2, (new_w - size) // 2
    out = np.empty((flat.shape[0], size, size, flat.shape[-1]), dtype=np.uint8)
    for i, frame in enumerate(flat):
        resized = cv2.resize(frame, (new_w, new_h), interpolation=interp)
        out[i] = resized[top : top + size, left : left + size]
    return out.reshape(*frames.shape[:-3], size, size, frames.shape[-1])


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 ``[H, W, 3]`` RGB.

    Raises:
        FileNotFoundError: If the file is missing or not an image OpenCV can decode.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: missing or not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 ``[H, W, 3]`` RGB image (format from the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: OpenCV could not write the image")
    return path
