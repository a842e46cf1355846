"""HANDI's Hand Refinement Loss (paper Eq. 2) on real hands, with the real landmark network.

Frames: ``images/handi_test_source_5.png`` of ``../shared/data/hands`` (egocentric,
two hands), with MediaPipe's keypoints from ``detections.json`` as the ground truth.
Needs the hand-landmarker bundle (`hcvg assets fetch hand-landmarker`) and the
shared data; each test skips saying which is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from handi.hand_refinement_loss import JOINTS_PER_FRAME, hand_refinement_loss
from handi.landmark.crop import crop_hands, crop_to_frame, roi_from_keypoints
from handi.landmark.network import HandLandmarkNet

cv2 = pytest.importorskip("cv2")

IMAGE = "images/handi_test_source_5.png"
LEFT, RIGHT = 0, 1


@pytest.fixture(scope="module")
def net(landmarker_path: Path) -> HandLandmarkNet:
    return HandLandmarkNet.from_tflite(landmarker_path)


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> torch.Tensor:
    """float32 ``[3, H, W]`` RGB in [0, 1]."""
    bgr = cv2.imread(str(shared_data / "hands" / IMAGE))
    return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1).float() / 255


@pytest.fixture(scope="module")
def keypoints(shared_data: Path) -> torch.Tensor:
    """float32 ``[2, 21, 2]``: the image's two hands, slot 0 = "Left", slot 1 = "Right"."""
    entry = json.loads((shared_data / "hands" / "detections.json").read_text())["files"][IMAGE]
    kp = torch.full((2, 21, 2), float("nan"))
    for hand in entry["hands"]:
        kp[LEFT if hand["handedness"] == "Left" else RIGHT] = torch.tensor(hand["keypoints"])
    assert torch.isfinite(kp).all(), "the test image should have both hands"
    return kp


def _clip(frame: torch.Tensor, num_frames: int = 2) -> torch.Tensor:
    """``[1, T, 3, H, W]``: the frame repeated."""
    return frame[None, None].repeat(1, num_frames, 1, 1, 1).clone()


def _gt(keypoints: torch.Tensor, num_frames: int = 2) -> torch.Tensor:
    """``[1, T, 2, 21, 2]``."""
    return keypoints[None, None].repeat(1, num_frames, 1, 1, 1).clone()


def _noise_like(frame: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return torch.rand(frame.shape, generator=torch.Generator().manual_seed(seed))


def test_zero_when_generated_equals_target(net, frame, keypoints) -> None:
    clip = _clip(frame)
    loss = hand_refinement_loss(clip, _gt(keypoints), net, target="network", target_frames=clip.clone())
    assert loss.item() == 0.0


def test_positive_when_generated_differs(net, frame, keypoints) -> None:
    clip = _clip(frame)
    other = clip.clone()
    other[:, 1] = _noise_like(frame)  # the second generated frame lost its hands
    assert hand_refinement_loss(other, _gt(keypoints), net, target="network", target_frames=clip).item() > 1e-4
    # Against the given keypoints, the real frame is close (MediaPipe found them there) but not exact.
    near = hand_refinement_loss(clip, _gt(keypoints), net).item()
    far = hand_refinement_loss(other, _gt(keypoints), net).item()
    assert 0 < near < far


def test_matches_eq2_by_hand_with_j_42(net, frame, keypoints) -> None:
    # Two hands, one frame, joints 4 and 8 of the left hand missing: they add 0 and J stays 42.
    gt = _gt(keypoints, num_frames=1)
    gt[0, 0, LEFT, [4, 8]] = float("nan")
    h, w = frame.shape[1:]
    roi = roi_from_keypoints(keypoints, (h, w))
    with torch.no_grad():
        landmarks = net(crop_hands(frame[None].expand(2, -1, -1, -1), roi)).landmarks[..., :2]
    p_gen = crop_to_frame(landmarks, roi, (h, w))
    squared = ((p_gen - keypoints) ** 2).sum(-1)
    squared[LEFT, [4, 8]] = 0
    expected = squared.sum() / JOINTS_PER_FRAME
    loss = hand_refinement_loss(_clip(frame, 1), gt, net)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0)


def test_a_missing_hand_is_masked(net, frame, keypoints) -> None:
    # Only the left hand is in the ground truth. Repainting every pixel the left hand's
    # crop does not read (the right hand included) must leave the loss unchanged.
    h, w = frame.shape[1:]
    probe = frame[None].clone().requires_grad_(True)
    crop_hands(probe, roi_from_keypoints(keypoints[LEFT][None], (h, w))).sum().backward()
    unread = (probe.grad == 0).all(dim=1, keepdim=True)[0]  # [1, H, W]
    right_box = keypoints[RIGHT] * torch.tensor([w, h])
    x, y = right_box.mean(0).long()
    assert unread[0, y, x], "the right hand should lie outside the left hand's crop"
    repainted = torch.where(unread, _noise_like(frame), frame)

    only_left = _gt(keypoints)
    only_left[:, :, RIGHT] = float("nan")
    before = hand_refinement_loss(_clip(frame), only_left, net)
    after = hand_refinement_loss(_clip(repainted), only_left, net)
    assert torch.isfinite(before)
    assert after.item() == before.item()
    # The same repaint does move the loss when the right hand is in the ground truth.
    both = _gt(keypoints)
    assert hand_refinement_loss(_clip(repainted), both, net).item() > hand_refinement_loss(_clip(frame), both, net).item()


def test_no_ground_truth_hand_gives_zero_and_a_graph(net, frame) -> None:
    clip = _clip(frame).requires_grad_(True)
    none = torch.full((1, 2, 2, 21, 2), float("nan"))
    loss = hand_refinement_loss(clip, none, net)
    loss.backward()
    assert loss.item() == 0.0
    assert clip.grad is not None and (clip.grad == 0).all()


def test_gradient_reaches_a_layer_before_the_crop(net, frame, keypoints) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1)
    with torch.no_grad():  # near identity, so the image stays a picture of hands
        conv.weight.mul_(0.05)
        conv.weight[:, :, 1, 1] += torch.eye(3)
        conv.bias.zero_()
    clip = _clip(frame)
    generated = conv(clip.flatten(0, 1)).unflatten(0, clip.shape[:2])
    loss = hand_refinement_loss(generated, _gt(keypoints), net)
    loss.backward()
    for param in (conv.weight, conv.bias):
        assert param.grad is not None
        assert torch.isfinite(param.grad).all()
        assert param.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters()), "the landmark network must stay frozen"


def test_bf16_autocast_does_not_change_the_loss(net, frame, keypoints) -> None:
    clip = _clip(frame)
    plain = hand_refinement_loss(clip, _gt(keypoints), net)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = hand_refinement_loss(clip, _gt(keypoints), net)
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, plain, rtol=1e-5, atol=0)


def test_frame_stride_averages_the_frames_used(net, frame, keypoints) -> None:
    clip = _clip(frame, num_frames=3)
    clip[:, 1] = _noise_like(frame, seed=1)
    clip[:, 2] = frame.flip(-1)
    gt = _gt(keypoints, num_frames=3)
    every_other = hand_refinement_loss(clip, gt, net, frame_stride=2)
    first = hand_refinement_loss(clip[:, :1], gt[:, :1], net)
    third = hand_refinement_loss(clip[:, 2:], gt[:, 2:], net)
    torch.testing.assert_close(every_other, (first + third) / 2, rtol=1e-5, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "network"}, "target_frames"),
        ({"target": "detector"}, "'keypoints' or 'network'"),
        ({"frame_stride": 0}, "frame_stride"),
    ],
)
def test_bad_settings_are_named(net, frame, keypoints, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        hand_refinement_loss(_clip(frame), _gt(keypoints), net, **kwargs)


def test_keypoints_must_match_the_clip(net, frame, keypoints) -> None:
    with pytest.raises(ValueError, match=r"keypoints\[None\]"):
        hand_refinement_loss(_clip(frame), _gt(keypoints)[0], net)
