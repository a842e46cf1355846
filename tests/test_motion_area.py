"""Motion-area masks from hand keypoints (paper §3.1)."""

import numpy as np
import pytest

from handi.motion_area import frame_masks, hull_mask, motion_area_mask, postprocess_mask

SIZE = (100, 100)


def test_triangle_hull_has_triangle_area():
    # Right triangle with legs of 60 px: area 1800 px^2.
    points = np.array([[0.2, 0.2], [0.8, 0.2], [0.2, 0.8], [0.3, 0.3]])  # last point is inside
    mask = hull_mask(points, SIZE)
    assert mask.dtype == bool and mask.shape == SIZE
    # Filling includes the pixels the edges pass through: a little more than 1800.
    assert 1800 <= int(mask.sum()) <= 1.1 * 1800
    assert mask[30, 30] and not mask[70, 70]


def test_hull_ignores_nan_joints():
    points = np.array([[0.2, 0.2], [0.8, 0.2], [np.nan, np.nan], [0.2, 0.8], [np.nan, 0.9]])
    assert np.array_equal(hull_mask(points, SIZE), hull_mask(points[[0, 1, 3]], SIZE))


@pytest.mark.parametrize("points", [np.full((21, 2), np.nan), np.array([[0.1, 0.1], [0.5, 0.5]]), np.zeros((0, 2))])
def test_fewer_than_three_valid_points_give_an_empty_mask(points):
    assert not hull_mask(points, SIZE).any()


def test_frame_masks_are_the_union_of_hands_and_the_motion_area_the_union_of_frames():
    left = np.array([[0.1, 0.1], [0.3, 0.1], [0.1, 0.3]])
    right = np.array([[0.9, 0.9], [0.7, 0.9], [0.9, 0.7]])
    missing = np.full_like(left, np.nan)
    keypoints = np.stack([np.stack([left, missing]), np.stack([missing, right]), np.stack([left, right])])  # [3, 2, 3, 2]
    masks = frame_masks(keypoints, SIZE)
    assert masks.shape == (3, *SIZE)
    assert np.array_equal(masks[2], masks[0] | masks[1])
    assert not (masks[0] & masks[1]).any()
    assert np.array_equal(motion_area_mask(keypoints, SIZE), masks[2])


def test_motion_area_of_no_hands_is_empty():
    assert not motion_area_mask(np.full((4, 2, 21, 2), np.nan), SIZE).any()


def test_frame_masks_rejects_bad_shapes():
    with pytest.raises(ValueError):
        frame_masks(np.zeros((2, 21, 2)), SIZE)


def test_postprocess_grows_and_closes_the_mask():
    mask = np.zeros(SIZE, bool)
    mask[40:60, 20:45] = True
    mask[40:60, 50:80] = True  # a 5 px gap between two blobs
    out = postprocess_mask(mask, kernel_size=9)
    assert out.dtype == bool
    assert out[mask].all() and out.sum() > mask.sum()
    assert out[50, 47]  # the gap is filled
    assert not out[5, 5]
    assert np.array_equal(postprocess_mask(mask.astype(np.float32) * 0.9, kernel_size=9), out)  # soft masks thresholded
