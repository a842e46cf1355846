"""Motion-area (MA) masks from hand keypoints (paper §3.1).

The motion area of a clip is where its hands act: each frame's mask is the filled
convex hull of that frame's hand keypoints, and the clip's mask ``M_video`` is the
union of the frame masks. Stage 2 of HANDI is conditioned on a morphologically
post-processed version of the mask (paper §3.1, last paragraph).
"""

from __future__ import annotations

import cv2
import numpy as np

# Fixed-point precision for cv2 polygon filling: sub-pixel hull vertices.
_SHIFT = 4


def hull_mask(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fill the convex hull of one set of keypoints (one hand, one frame; paper §3.1).

    Args:
        points: float ``[J, 2]`` normalized (x, y) in [0, 1]; rows with a NaN are
            ignored (missing joints).
        size: ``(H, W)`` of the output mask.

    Returns:
        bool ``[H, W]``: True inside the hull. Empty when fewer than 3 joints are
        valid (a hull needs an area).
    """
    height, width = size
    mask = np.zeros((height, width), dtype=np.uint8)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    valid = points[np.all(np.isfinite(points), axis=1)]
    if len(valid) < 3:
        return mask.astype(bool)
    # Normalized coords are continuous (pixel i spans [i, i+1)); cv2 addresses pixel
    # centers, hence the half-pixel shift.
    pixels = valid * np.array([width, height]) - 0.5
    fixed = np.round(pixels * (1 << _SHIFT)).astype(np.int32)
    hull = cv2.convexHull(fixed)
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask.astype(bool)


def frame_masks(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Per-frame motion-area masks ``M_l``: union of each hand's filled hull (paper §3.1).

    Args:
        keypoints: float ``[T, K, J, 2]`` normalized (x, y) in [0, 1] for T frames and
            K hands (K = 2: left, right) of J joints; NaN where missing.
        size: ``(H, W)`` of the masks.

    Returns:
        bool ``[T, H, W]``.
    """
    keypoints = np.asarray(keypoints)
    if keypoints.ndim != 4 or keypoints.shape[-1] != 2:
        raise ValueError(f"keypoints must be [T, K, J, 2], got {keypoints.shape}")
    masks = np.zeros((keypoints.shape[0], *size), dtype=bool)
    for t, hands in enumerate(keypoints):
        for hand in hands:
            masks[t] |= hull_mask(hand, size)
    return masks


def motion_area_mask(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The clip's motion area ``M_video``: union over frames of the frame masks (paper §3.1).

    Args:
        keypoints: float ``[T, K, J, 2]`` normalized (x, y) in [0, 1]; NaN where missing.
        size: ``(H, W)`` of the mask.

    Returns:
        bool ``[H, W]``; all False when no frame has a hand.
    """
    return frame_masks(keypoints, size).any(axis=0)


def scaled_kernel_size(height: int, kernel_at_256: int = 15) -> int:
    """The morphology kernel for frames of ``height`` pixels, given its size at 256² (odd, ≥ 1)."""
    return max(1, round(kernel_at_256 * height / 256)) | 1


def postprocess_mask(mask: np.ndarray, kernel_size: int = 15, iterations: int = 1) -> np.ndarray:
    """Morphological clean-up of a motion-area mask before stage-2 conditioning (paper §3.1).

    Dilation grows the area to cover the hand's outline beyond its joints' hull (the
    hull runs through finger centers, not their edges); closing then fills the gaps
    between the hulls of different frames and hands.

    Args:
        mask: bool (or {0, 1}, or soft [0, 1] thresholded at 0.5) ``[H, W]``.
        kernel_size: Diameter in pixels of the elliptical structuring element.
        iterations: Repetitions of the dilation and of the closing.

    Returns:
        bool ``[H, W]``.
    """
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    binary = (np.asarray(mask, dtype=np.float32) >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))
    binary = cv2.dilate(binary, kernel, iterations=iterations)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel, iterations=iterations)
    return binary.astype(bool)
