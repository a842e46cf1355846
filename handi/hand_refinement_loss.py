"""HANDI's Hand Refinement Loss, L_HR (paper §3.2, Eq. 2), differentiable end to end.

    L_HR = 1/L * sum_l 1/J * ||P_l^gen - P_l^train||_F^2,   J = 42 (2 hands x 21 joints)

P are (x, y) joint positions normalized by the frame's width and height to [0, 1].
The paper's detector Υ is MediaPipe's hand landmarker, frozen; here its landmark
network runs as a PyTorch port (`handi.landmark.network.HandLandmarkNet`) on crops
cut from the generated frames with ``grid_sample`` (`handi.landmark.crop`), so the
gradient reaches the generated pixels and, through the decoder, the noise predictor.

Which crop. Each ground-truth hand is cropped, in the generated frame, with the ROI
MediaPipe derives from landmarks when it tracks a hand (`handi.landmark.crop`), here
from the ground-truth keypoints: the network is asked "where are this hand's joints
in the generated frame, where the real hand was?". No palm detector runs, so a
frame whose hand is badly drawn still gets a crop and a gradient (the paper notes
the loss only becomes dense once hands are detectable; with the GT ROI it is dense
from the start).

Missing joints (paper: set to 0 in either P, so they add nothing while J stays 42):
a joint missing in the ground truth adds 0, and a hand whose ROI joints are missing
(`handi.landmark.crop.ROI_JOINTS`) is not cropped at all and adds 0. The generated
side always has all 21 joints (the network always answers), so no hand can escape
the loss by not being drawn.
"""

from __future__ import annotations

from typing import Literal

import torch

from handi.landmark.crop import HandRoi, crop_hands, crop_to_frame, roi_from_keypoints
from handi.landmark.network import HandLandmarkNet

NUM_HANDS = 2
NUM_JOINTS = 21
#: J of Eq. 2: the paper divides by 42 whatever number of joints is present.
JOINTS_PER_FRAME = NUM_HANDS * NUM_JOINTS

TargetSource = Literal["keypoints", "network"]


def _landmarks_in_frame(
    net: HandLandmarkNet, frames: torch.Tensor, roi: HandRoi, image_size: tuple[int, int]
) -> torch.Tensor:
    """float32 ``[N, 21, 2]`` normalized landmarks of N hands, one frame ``[N, 3, H, W]`` each."""
    crops = crop_hands(frames, roi)
    landmarks = net(crops).landmarks[..., :2]
    return crop_to_frame(landmarks, roi, image_size)


def hand_refinement_loss(
    generated: torch.Tensor,
    target_keypoints: torch.Tensor,
    net: HandLandmarkNet,
    *,
    target: TargetSource = "keypoints",
    target_frames: torch.Tensor | None = None,
    frame_stride: int = 1,
) -> torch.Tensor:
    """The Hand Refinement Loss of generated clips against their ground-truth hands.

    Everything after the input runs in float32 with autocast off (the landmark
    network moves by up to 23 px of its 224 crop in bf16), whatever the caller's
    precision; the gradient flows back to ``generated`` in its own dtype.

    Args:
        generated: float ``[B, T, 3, H, W]`` RGB in [0, 1] (map a decoder's [-1, 1]
            output with ``(x + 1) / 2`` first): the generated frames, not including
            the context frame.
        target_keypoints: float ``[B, T, 2, 21, 2]`` (tensor or numpy): the training clip's hand
            keypoints for the same frames, (x, y) normalized by width and height;
            hand 0 = left, hand 1 = right; NaN where a joint or hand is missing.
            They place the crops, and with ``target="keypoints"`` they are P^train.
        net: The frozen hand-landmark network (`handi.landmark.network.load_hand_landmark_net`).
        target: Where P^train comes from: ``"keypoints"`` (default) uses
            ``target_keypoints``; ``"network"`` runs ``net`` on the same crops of
            ``target_frames`` under ``no_grad``, so both sides are measured by the
            same judge.
        target_frames: float ``[B, T, 3, H, W]`` RGB in [0, 1], the training clip's
            frames; required for ``target="network"``, unused otherwise.
        frame_stride: Use every ``frame_stride``-th frame (0, k, 2k, ...) to save
            memory; L of Eq. 2 is then the number of frames used. Default 1.

    Returns:
        float32 scalar: L_HR averaged over the B clips. With no ground-truth hand
        in any used frame it is 0 and still part of the graph (zero gradients).

    Raises:
        ValueError: On a shape, setting or missing ``target_frames`` error; the
            message names the argument and the expected value.
    """
    if generated.dim() != 5 or generated.shape[2] != 3:
        raise ValueError(f"generated must be [B, T, 3, H, W] RGB in [0, 1], got shape {tuple(generated.shape)}")
    b, t, _, h, w = generated.shape
    target_keypoints = torch.as_tensor(target_keypoints)
    expected = (b, t, NUM_HANDS, NUM_JOINTS, 2)
    if tuple(target_keypoints.shape) != expected:
        raise ValueError(
            f"target_keypoints must be [B, T, 2, 21, 2] = {list(expected)} to match generated, got "
            f"{list(target_keypoints.shape)}; add a batch axis for one clip (keypoints[None])"
        )
    if target not in ("keypoints", "network"):
        raise ValueError(f"target must be 'keypoints' or 'network', got {target!r}")
    if target == "network" and (target_frames is None or target_frames.shape != generated.shape):
        got = None if target_frames is None else list(target_frames.shape)
        raise ValueError(f"target='network' needs target_frames of shape {list(generated.shape)}, got {got}")
    if not isinstance(frame_stride, int) or frame_stride < 1:
        raise ValueError(f"frame_stride must be an integer >= 1, got {frame_stride!r}")

    num_frames = len(range(0, t, frame_stride))
    with torch.autocast(device_type=generated.device.type, enabled=False):
        # 1. One ROI per (clip, frame, hand) slot, from the ground truth.
        keypoints = target_keypoints[:, ::frame_stride].to(device=generated.device, dtype=torch.float32)
        roi = roi_from_keypoints(keypoints, (h, w))
        slots = roi.valid.nonzero(as_tuple=True)  # (clip, frame, hand) of each hand to crop
        if slots[0].numel() == 0:
            return generated.float().sum() * 0.0
        roi = roi[slots]
        frame_index = (slots[0], slots[1] * frame_stride)

        # 2. Crop the generated frames, run the landmark net, map back (differentiable).
        p_gen = _landmarks_in_frame(net, generated[frame_index].float(), roi, (h, w))

        # 3. P^train: the given keypoints, or the same judge on the training frames.
        gt = keypoints[slots]
        present = torch.isfinite(gt).all(dim=-1)  # [N, 21]
        if target == "network":
            assert target_frames is not None
            with torch.no_grad():
                p_train = _landmarks_in_frame(net, target_frames[frame_index].float(), roi, (h, w))
        else:
            p_train = gt

        # 4. Eq. 2: squared distances, missing GT joints add 0, J = 42, mean over frames and clips.
        squared = ((p_gen - torch.nan_to_num(p_train)) ** 2).sum(dim=-1)
        squared = torch.where(present, squared, torch.zeros_like(squared))
        return squared.sum() / (b * num_frames * JOINTS_PER_FRAME)
