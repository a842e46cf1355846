"""Differentiable hand crops: MediaPipe's hand ROI from keypoints, crop, and the way back.

The ROI is the one MediaPipe's hand landmarker derives from a hand's landmarks to
track it into the next frame (the Tasks graph
``mediapipe/tasks/cc/vision/hand_landmarker/hand_landmarks_detector_graph.cc``, and the
legacy ``modules/hand_landmark/hand_landmark_landmarks_to_roi.pbtxt``), so a crop of
a frame around its ground-truth hand is what the network sees when MediaPipe tracks
that hand. Its two steps, as used here:

1. ``HandLandmarksToRectCalculator``
   (``modules/hand_landmark/calculators/hand_landmarks_to_rect_calculator.cc``): on
   the 12 palm and lower-finger joints (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18), the
   rotation is ``pi/2 - atan2(-(y1 - y0), x1 - x0)`` from the wrist (0) to
   ``((index PIP 6 + ring PIP 14) / 2 + middle PIP 10) / 2``, so that the hand points
   up in the crop; the rect is the bounding box of those joints in the frame rotated
   by ``-rotation`` about their axis-aligned box center, all in pixels.
2. ``RectTransformationCalculator`` with ``scale_x = scale_y = 2.0``,
   ``shift_y = -0.1`` and ``square_long = true``: the center moves by -0.1 of the
   rect's height along the rotated y axis (towards the fingers), then the rect
   becomes a square of twice its longer side.

Coordinates. Normalized keypoints ``(x, y)`` are in units of the frame's width and
height, with ``x * W`` a continuous pixel coordinate (pixel ``i`` covers
``[i, i + 1)``), the convention of ``grid_sample(align_corners=False)``. Crop
landmarks are in the same convention in crop pixels, ``[0, 224)``, so
:func:`crop_to_frame` is the exact inverse of the sampling :func:`crop_hands` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

#: The joints MediaPipe's landmarks-to-rect calculator uses (palm and lower fingers).
ROI_JOINTS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
WRIST, INDEX_PIP, MIDDLE_PIP, RING_PIP = 0, 6, 10, 14
#: RectTransformationCalculator options of the hand landmarker's next-frame ROI.
ROI_SCALE = 2.0
ROI_SHIFT_Y = -0.1
CROP_SIZE = 224


@dataclass
class HandRoi:
    """Square rotated hand regions in one frame size, in pixels.

    Attributes:
        center: float ``[..., 2]``: (x, y) of the square's center, continuous pixels.
        side: float ``[...]``: side of the square, pixels.
        rotation: float ``[...]``: radians; the crop's "up" is the frame's
            ``(sin r, -cos r)``, i.e. the crop is the frame rotated by ``-r``.
        valid: bool ``[...]``: whether the hand's ROI joints were all present; where
            False the other fields hold a harmless placeholder (the whole frame).
    """

    center: torch.Tensor
    side: torch.Tensor
    rotation: torch.Tensor
    valid: torch.Tensor

    def __getitem__(self, index: object) -> "HandRoi":
        return HandRoi(self.center[index], self.side[index], self.rotation[index], self.valid[index])


def _normalize_radians(angle: torch.Tensor) -> torch.Tensor:
    """Wrap to [-pi, pi), as MediaPipe's ``NormalizeRadians``."""
    return angle - 2 * math.pi * torch.floor((angle + math.pi) / (2 * math.pi))


def _rotate(v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (x, y) vectors ``[..., K, 2]`` by angles given as ``[...]`` cos and sin (image axes, y down)."""
    c, s = cos[..., None], sin[..., None]
    x, y = v[..., 0], v[..., 1]
    return torch.stack((c * x - s * y, s * x + c * y), dim=-1)


def roi_from_keypoints(keypoints: torch.Tensor, image_size: tuple[int, int]) -> HandRoi:
    """MediaPipe's hand-landmark ROI of each hand, from its 21 keypoints.

    Args:
        keypoints: float ``[..., 21, 2]``: normalized (x, y) in units of the frame's
            width and height, MediaPipe joint order; NaN where a joint is missing.
        image_size: ``(H, W)`` of the frame, pixels.

    Returns:
        One ROI per hand (leading dims of ``keypoints``); ``valid`` is False where any
        of :data:`ROI_JOINTS` is missing.
    """
    if keypoints.dim() < 2 or tuple(keypoints.shape[-2:]) != (21, 2):
        raise ValueError(f"keypoints must be [..., 21, 2] normalized (x, y), got shape {tuple(keypoints.shape)}")
    h, w = image_size
    scale = keypoints.new_tensor([w, h])
    joints = keypoints[..., list(ROI_JOINTS), :]
    valid = torch.isfinite(joints).all(dim=-1).all(dim=-1)
    # Placeholder joints for invalid hands keep the arithmetic finite (and their grads zero).
    placeholder = keypoints.new_tensor([[0.5, 1.0], [0.5, 0.0]]).repeat(6, 1)
    pts = torch.where(valid[..., None, None], joints, placeholder) * scale

    wrist = pts[..., ROI_JOINTS.index(WRIST), :]
    pips = (pts[..., ROI_JOINTS.index(INDEX_PIP), :] + pts[..., ROI_JOINTS.index(RING_PIP), :]) / 2
    tip = (pips + pts[..., ROI_JOINTS.index(MIDDLE_PIP), :]) / 2
    rotation = _normalize_radians(math.pi / 2 - torch.atan2(-(tip[..., 1] - wrist[..., 1]), tip[..., 0] - wrist[..., 0]))
    cos, sin = torch.cos(rotation), torch.sin(rotation)

    axis_center = (pts.amax(dim=-2) + pts.amin(dim=-2)) / 2
    # Into the hand's frame (rotate by -rotation), bounding box there, and back.
    projected = _rotate(pts - axis_center[..., None, :], cos, -sin)
    lo, hi = projected.amin(dim=-2), projected.amax(dim=-2)
    center = _rotate(((lo + hi) / 2)[..., None, :], cos, sin)[..., 0, :] + axis_center
    width, height = (hi - lo).unbind(-1)

    # RectTransformationCalculator: shift along the rotated y axis, square, scale.
    shift = torch.stack((-sin * height * ROI_SHIFT_Y, cos * height * ROI_SHIFT_Y), dim=-1)
    center = center + shift
    side = torch.maximum(width, height) * ROI_SCALE
    return HandRoi(center=center, side=side, rotation=rotation, valid=valid)


def _crop_to_frame_affine(roi: HandRoi, image_size: tuple[int, int]) -> torch.Tensor:
    """``affine_grid`` thetas ``[N, 2, 3]``: crop coords in [-1, 1] -> frame coords in [-1, 1]."""
    h, w = image_size
    cos, sin = torch.cos(roi.rotation), torch.sin(roi.rotation)
    half = roi.side / 2
    # Frame pixel p = center + R(rotation) @ (half * g) for crop grid coords g in [-1, 1],
    # then normalized for grid_sample: 2 p / (W, H) - 1.
    row_x = torch.stack((half * cos * 2 / w, -half * sin * 2 / w, roi.center[..., 0] * 2 / w - 1), dim=-1)
    row_y = torch.stack((half * sin * 2 / h, half * cos * 2 / h, roi.center[..., 1] * 2 / h - 1), dim=-1)
    return torch.stack((row_x, row_y), dim=-2)


def crop_hands(frames: torch.Tensor, roi: HandRoi, size: int = CROP_SIZE) -> torch.Tensor:
    """Cut each hand's rotated square ROI out of its frame, differentiably.

    Bilinear ``grid_sample`` with zero padding (outside the frame is black, as in
    MediaPipe's crop) and ``align_corners=False``; gradients flow to ``frames``.

    Args:
        frames: float ``[N, 3, H, W]`` RGB in [0, 1], one frame per hand.
        roi: N ROIs (``center [N, 2]``, ``side [N]``, ``rotation [N]``) in ``frames``' pixels.
        size: Side of the output crop, pixels.

    Returns:
        float ``[N, 3, size, size]``, same dtype as ``frames``, the hand upright.
    """
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be [N, 3, H, W] RGB, got shape {tuple(frames.shape)}")
    n, _, h, w = frames.shape
    if roi.center.shape != (n, 2):
        raise ValueError(f"need one ROI per frame: frames has N={n}, roi.center has shape {tuple(roi.center.shape)}")
    theta = _crop_to_frame_affine(roi, (h, w)).to(frames.dtype)
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def crop_to_frame(points: torch.Tensor, roi: HandRoi, image_size: tuple[int, int], size: int = CROP_SIZE) -> torch.Tensor:
    """Map crop-pixel (x, y) points back to normalized frame coordinates, differentiably.

    The exact inverse of the sampling :func:`crop_hands` does: a point at crop pixel
    ``u`` shows the frame at the returned position.

    Args:
        points: float ``[N, K, 2]``: (x, y) in crop pixels, ``[0, size)`` inside the crop.
        roi: The N ROIs the crops were cut with.
        image_size: ``(H, W)`` of the frames, pixels.
        size: Side of the crop, pixels.

    Returns:
        float ``[N, K, 2]``: (x, y) in units of the frame's width and height.
    """
    h, w = image_size
    local = (points / size - 0.5) * roi.side[:, None, None]
    frame_px = _rotate(local, torch.cos(roi.rotation), torch.sin(roi.rotation)) + roi.center[:, None, :]
    return frame_px / frame_px.new_tensor([w, h])
