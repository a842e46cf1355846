"""Optical flow as colour images (hue = direction, brightness = speed), as in the paper's Fig. 1/4."""

from __future__ import annotations

import numpy as np

from hcvg.errors import require

require("matplotlib", "site", "the leaderboard site (flow colours)")
from matplotlib.colors import hsv_to_rgb  # noqa: E402


def flow_to_rgb(flows: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code dense flow fields.

    Args:
        flows: float ``[T, H, W, 2]`` (dx, dy) displacements in pixels.
        max_magnitude: Speed shown at full brightness; defaults to the 99th percentile
            of ``flows`` so that one outlier pixel does not darken the rest. Pass the
            same value for clips that should be compared by eye.

    Returns:
        uint8 ``[T, H, W, 3]`` RGB: hue is the direction, value the speed (black = still).
    """
    dx, dy = flows[..., 0], flows[..., 1]
    magnitude = np.hypot(dx, dy)
    if max_magnitude is None:
        max_magnitude = float(np.percentile(magnitude, 99)) if magnitude.size else 0.0
    scale = max(max_magnitude, 1e-6)
    hsv = np.empty((*magnitude.shape, 3), dtype=np.float32)
    hsv[..., 0] = (np.arctan2(dy, dx) + np.pi) / (2 * np.pi)
    hsv[..., 1] = 1.0
    hsv[..., 2] = np.clip(magnitude / scale, 0.0, 1.0)
    return (hsv_to_rgb(hsv) * 255).round().astype(np.uint8)


def mask_outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """The boundary pixels of a mask.

    Args:
        mask: bool ``[H, W]``.
        width: Outline thickness in pixels (inside the mask).

    Returns:
        bool ``[H, W]``, True on the mask's inner boundary.
    """
    inner = mask.copy()
    for _ in range(width):
        shrunk = inner.copy()
        # 4-neighbour erosion by shifting; pixels on the image border count as outside.
        shrunk[1:, :] &= inner[:-1, :]
        shrunk[:-1, :] &= inner[1:, :]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        shrunk[0, :] = shrunk[-1, :] = False
        shrunk[:, 0] = shrunk[:, -1] = False
        inner = shrunk
    return mask & ~inner


def draw_outline(frames: np.ndarray, mask: np.ndarray | None, color: tuple[int, int, int] = (255, 221, 0)) -> np.ndarray:
    """Frames with the mask's outline painted on (unchanged when ``mask`` is None).

    Args:
        frames: uint8 ``[T, H, W, 3]`` or ``[H, W, 3]``.
        mask: bool ``[H, W]`` or None.
        color: RGB of the outline.
    """
    if mask is None or not mask.any():
        return frames
    out = frames.copy()
    out[..., mask_outline(mask), :] = color
    return out
