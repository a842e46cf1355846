"""The generated `demo` split: determinism, contracts, and hands that move."""

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from benchmark.splits.demo import ACTIONS, DemoConfig, load_demo_split, make_demo_sample
from benchmark.splits.demo_render import HandPose, hand_joints

N = 4


@pytest.fixture(scope="module")
def samples():
    return load_demo_split(num_samples=N)


def test_shapes_and_dtypes(samples):
    assert len(samples) == N
    for i, s in enumerate(samples):
        assert s.id == f"demo-{i:04d}" and s.split == "demo"
        assert s.context.shape == (256, 256, 3) and s.context.dtype == np.uint8
        assert s.target.shape == (15, 256, 256, 3) and s.target.dtype == np.uint8
        assert s.keypoints.shape == (16, 2, 21, 2) and s.keypoints.dtype == np.float32
        assert s.motion_area.shape == (256, 256) and s.motion_area.dtype == bool
        assert s.prompt.startswith(tuple(ACTIONS)) and s.meta["object"] in s.prompt
        assert s.meta["action"] in ACTIONS and s.meta["seed"] == 0
        assert 45 <= s.meta["palm_width_px"] <= 75


def test_same_seed_same_arrays_different_seed_different(samples):
    again = load_demo_split(num_samples=2)
    for a, b in zip(samples, again):
        assert a.prompt == b.prompt
        assert np.array_equal(a.context, b.context) and np.array_equal(a.target, b.target)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
    other = load_demo_split(num_samples=2, seed=1)
    assert not np.array_equal(other[0].target, samples[0].target)


def test_sample_does_not_depend_on_num_samples(samples):
    alone = make_demo_sample(3)
    assert np.array_equal(alone.target, samples[3].target)
    np.testing.assert_array_equal(alone.keypoints, samples[3].keypoints)


def test_keypoints_are_normalized_and_hands_present(samples):
    for s in samples:
        k = s.keypoints
        finite = k[np.isfinite(k)]
        assert ((finite >= 0) & (finite <= 1)).all()
        # NaN comes per joint: both coordinates or neither.
        assert np.array_equal(np.isnan(k[..., 0]), np.isnan(k[..., 1]))
        present = np.isfinite(k).all(axis=-1).any(axis=-1)  # [T, 2]
        assert present.any(axis=1).all(), "every frame shows a hand"
        hands = {"left": 0, "right": 1}
        for name, slot in hands.items():
            assert present[:, slot].any() == (name in s.meta["hands"])


def _hull_offsets(keypoints: np.ndarray, size: int) -> np.ndarray:
    """How far each pixel centre lies outside the nearest hand hull, by a route apart from cv2's.

    Each hand's hull in each frame is qhull's (scipy), on the joints in pixel units
    (pixel i spans [i, i+1), so its centre is i + 0.5). For a convex hull with outward
    facet normals n and offsets b, max over facets of n·p + b is minus the distance to
    the border inside and at most the distance to the hull outside.

    Args:
        keypoints: float ``[T, 2, 21, 2]`` normalized (x, y); NaN where missing.
        size: Frame side in pixels.

    Returns:
        float64 ``[size, size]``: min over frames and hands of that offset (< 0 inside a
        hull); +inf where no hand has 3 joints.
    """
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    offsets = np.full(size * size, np.inf)
    for hands in keypoints:
        for joints in hands:
            joints = joints[np.isfinite(joints).all(axis=1)] * size
            if len(joints) < 3:  # no area (the module's rule too)
                continue
            facets = ConvexHull(joints).equations  # [F, 3]: n_x, n_y, b
            offsets = np.minimum(offsets, (centres @ facets[:, :2].T + facets[:, 2]).max(axis=1))
    return offsets.reshape(size, size)


def test_motion_area_is_the_union_of_the_joint_hulls(samples):
    for s in samples:
        mask = s.motion_area
        offsets = _hull_offsets(s.keypoints, 256)
        inside = offsets < 0
        assert inside.sum() > 1000, f"{s.id}: hands too small to check"
        # Every pixel whose centre is inside some hand's hull in some frame is in the mask,
        missed = inside & ~mask
        assert not missed.any(), f"{s.id}: {missed.sum()} pixels inside a hull are not in the motion area"
        # and the mask adds only the hulls' rasterized border (cv2 fills edge pixels whose
        # centres are up to ~0.65 px outside).
        extra = offsets[mask & ~inside]
        assert extra.size == 0 or extra.max() <= 0.75, f"{s.id}: mask pixel {extra.max():.2f} px outside every hull"
        assert inside.sum() <= mask.sum() <= 1.03 * inside.sum()  # so the area is the hulls' within rounding


def test_hands_move_inside_the_motion_area(samples):
    for s in samples:
        diff = np.abs(s.target.astype(np.int16) - s.context[None].astype(np.int16)).max(axis=-1)  # [L, H, W]
        inside = diff[:, s.motion_area].mean()
        outside = diff[:, ~s.motion_area].mean()
        assert inside > 10.0, f"{s.id}: hands barely move ({inside:.1f})"
        assert inside > 2 * outside
        moved = np.nanmax(np.linalg.norm(s.keypoints[1:, :, 0] - s.keypoints[:1, :, 0], axis=-1))
        assert moved > 3.0 / 256


def test_camera_shake_moves_the_background():
    still = make_demo_sample(0, DemoConfig(camera_shake_px=0.0, sensor_noise=0.0))
    shaky = make_demo_sample(0, DemoConfig(camera_shake_px=1.0, sensor_noise=0.0))
    # Pixels that never change without shake (away from hands, shadows, moved objects).
    static = (still.target == still.context[None]).all(axis=(0, -1))
    assert static.mean() > 0.3
    moved = np.abs(shaky.target[:, static].astype(int) - shaky.context[static].astype(int))
    assert moved.mean() > 0.5


def test_grasp_closes_the_fingers():
    open_hand = hand_joints(HandPose(128, 200, 60, grasp=0.0))
    fist = hand_joints(HandPose(128, 200, 60, grasp=0.9))
    tips = [8, 12, 16, 20]
    reach = lambda j: np.linalg.norm(j[tips] - j[0], axis=-1).mean()  # noqa: E731
    assert reach(fist) < 0.8 * reach(open_hand)


def test_left_hand_mirrors_the_right():
    right = hand_joints(HandPose(128, 200, 60, rotation=0.0, is_right=True))
    left = hand_joints(HandPose(128, 200, 60, rotation=0.0, is_right=False))
    np.testing.assert_allclose(left[:, 0] - 128, -(right[:, 0] - 128))
    np.testing.assert_allclose(left[:, 1], right[:, 1])
    assert right[4, 0] < right[20, 0]  # back of a right hand: thumb on the image's left
