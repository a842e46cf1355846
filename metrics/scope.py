"""The motion-area (MA) scope: crop every frame to the GT motion area's square box.

DESIGN.md, "Motion-area scope": both videos are cropped to the GT MA's bounding box
(with a margin), made square, resized back to 256², then scored like full frames. The
same box (from the *ground-truth* mask, never the generated video) crops the generated
clip, the target, the context and the mask itself, so every model is judged on the
same pixels.

Box convention: ``(y0, y1, x0, x1)`` in pixels, half-open (``frame[y0:y1, x0:x1]``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from metrics.base import MetricUndefined, Scope

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ScopeConfig:
    """How the "ma" scope crops; written into the run config.

    Attributes:
        margin: Growth of the mask's bounding box on each side, as a fraction of that
            box's side along the same axis (0.1: a 100-px-tall box gains 10 px above
            and 10 px below), so the hand's immediate surroundings stay in view.
        size: Side of the square crop after resizing (the benchmark frame size).
        image_interpolation: Resampling of image crops: ``cv2.INTER_AREA`` when the crop
            is at least ``size`` on both axes (shrinking: area averaging does not
            alias), else ``cv2.INTER_CUBIC`` (enlarging, the usual case for a hand
            region; OpenCV saturates the result to uint8, so no overshoot wraps).
        mask_interpolation: Resampling of the mask: nearest neighbour, so it stays binary.
    """

    margin: float = 0.1
    size: int = 256
    image_interpolation: str = "area-if-shrinking-else-cubic"
    mask_interpolation: str = "nearest"

    def to_dict(self) -> dict:
        """Plain dict for the run config."""
        return dataclasses.asdict(self)


SCOPE_CONFIG = ScopeConfig()


def motion_area_box(mask: np.ndarray, margin: float = SCOPE_CONFIG.margin) -> Box:
    """The square crop box around a motion-area mask.

    Steps: the mask's bounding box; grown by ``margin`` × its side on each side (to
    whole pixels, outwards); the shorter side grown to the longer one, centred (an odd
    difference puts the extra pixel after); shifted to lie inside the frame. If the
    square is larger than the frame along an axis, that axis is clamped to the frame,
    so the box is then not square (only possible for non-square frames; on a square
    frame it becomes the whole frame).

    Args:
        mask: bool ``[H, W]`` motion-area mask.
        margin: Fraction of the box's side added on each side, >= 0.

    Returns:
        ``(y0, y1, x0, x1)`` with ``0 <= y0 < y1 <= H`` and ``0 <= x0 < x1 <= W``; the
        box contains every True pixel of ``mask``.

    Raises:
        MetricUndefined: If the mask is empty.
        ValueError: If ``mask`` is not 2-D or ``margin`` is negative.
    """
    if mask.ndim != 2:
        raise ValueError(f"motion-area mask must be [H, W], got shape {list(mask.shape)}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise MetricUndefined("the motion-area mask is empty; the 'ma' scope has no box")
    height, width = mask.shape
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    # Grow outwards to whole pixels so the grown box always contains the float one.
    grow_y, grow_x = margin * (y1 - y0), margin * (x1 - x0)
    y0, y1 = math.floor(y0 - grow_y), math.ceil(y1 + grow_y)
    x0, x1 = math.floor(x0 - grow_x), math.ceil(x1 + grow_x)
    side = max(y1 - y0, x1 - x0)
    y0, y1 = _square_up(y0, y1, side, height)
    x0, x1 = _square_up(x0, x1, side, width)
    return y0, y1, x0, x1


def _square_up(lo: int, hi: int, side: int, limit: int) -> tuple[int, int]:
    """Grow ``[lo, hi)`` to ``side`` (centred), then shift it into ``[0, limit)``."""
    lo -= (side - (hi - lo)) // 2
    side = min(side, limit)
    lo = min(max(lo, 0), limit - side)
    return lo, lo + side


def crop_to_box(frames: np.ndarray, box: Box, size: int = SCOPE_CONFIG.size) -> np.ndarray:
    """Crop images or a mask to ``box`` and resize to ``size`` × ``size``.

    Args:
        frames: uint8 ``[..., H, W, C]`` images (any number of leading axes, e.g. one
            frame ``[H, W, 3]`` or a clip ``[L, H, W, 3]``), or a bool ``[H, W]`` mask.
        box: ``(y0, y1, x0, x1)`` half-open crop box inside the frame.
        size: Output side in pixels.

    Returns:
        Same dtype, ``[..., size, size, C]`` for images, bool ``[size, size]`` for a
        mask. Images: ``cv2.INTER_AREA`` if the crop is at least ``size`` on both axes,
        else ``cv2.INTER_CUBIC``; masks: ``cv2.INTER_NEAREST``. A crop already
        ``size`` × ``size`` is copied, not resampled.

    Raises:
        ValueError: On an unsupported dtype/shape or a box outside the frame.
    """
    y0, y1, x0, x1 = box
    if frames.dtype == np.bool_:
        if frames.ndim != 2:
            raise ValueError(f"a mask must be bool [H, W], got shape {list(frames.shape)}")
        height, width = frames.shape
    elif frames.dtype == np.uint8 and frames.ndim >= 3:
        height, width = frames.shape[-3:-1]
    else:
        raise ValueError(
            f"crop_to_box wants uint8 [..., H, W, C] or bool [H, W], got {frames.dtype} {list(frames.shape)}"
        )
    if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
        raise ValueError(f"box {box} is not inside a {height}x{width} frame")

    if frames.dtype == np.bool_:
        crop = frames[y0:y1, x0:x1].astype(np.uint8)
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)

    crop = frames[..., y0:y1, x0:x1, :]
    if crop.shape[-3:-1] == (size, size):
        return crop.copy()
    shrinking = (y1 - y0) >= size and (x1 - x0) >= size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    lead = crop.shape[:-3]
    flat = crop.reshape(-1, *crop.shape[-3:])
    out = np.empty((flat.shape[0], size, size, flat.shape[-1]), dtype=np.uint8)
    for i, image in enumerate(flat):
        resized = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)
        out[i] = resized.reshape(size, size, -1)  # cv2 drops a single channel axis
    return out.reshape(*lead, size, size, flat.shape[-1])


def apply_scope(
    scope: Scope | str,
    *,
    generated: np.ndarray,
    target: np.ndarray,
    context: np.ndarray,
    motion_area: np.ndarray | None,
    config: ScopeConfig = SCOPE_CONFIG,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Bring a clip and its references to ``scope``.

    Args:
        scope: "full" (returned unchanged) or "ma" (all cropped with the GT motion
            area's box, see `motion_area_box`, and resized to ``config.size``²).
        generated: uint8 ``[L, H, W, 3]`` generated clip.
        target: uint8 ``[L, H, W, 3]`` ground-truth clip.
        context: uint8 ``[H, W, 3]`` context frame.
        motion_area: bool ``[H, W]`` GT motion-area mask, or None if unknown.
        config: Margin and output size of the crop.

    Returns:
        ``(generated, target, context, motion_area)`` at ``scope``; the mask is cropped
        too (nearest neighbour), or None if it was None at scope "full".

    Raises:
        MetricUndefined: At scope "ma" if the mask is None or empty.
        ValueError: On an unknown scope, or a mask whose size differs from the frames'.
    """
    if scope == "full":
        return generated, target, context, motion_area
    if scope != "ma":
        raise ValueError(f"unknown scope {scope!r}; expected 'full' or 'ma'")
    if motion_area is None:
        raise MetricUndefined("no GT motion-area mask for this sample; the 'ma' scope needs one")
    if motion_area.shape != context.shape[:2] or motion_area.shape != generated.shape[1:3]:
        raise ValueError(
            f"motion-area mask {list(motion_area.shape)} does not match frames "
            f"(context {list(context.shape)}, generated {list(generated.shape)})"
        )
    box = motion_area_box(motion_area.astype(bool, copy=False), config.margin)
    return (
        crop_to_box(generated, box, config.size),
        crop_to_box(target, box, config.size),
        crop_to_box(context, box, config.size),
        crop_to_box(motion_area.astype(bool, copy=False), box, config.size),
    )
