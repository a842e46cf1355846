"""The motion-area scope: the square box, the crop, and `apply_scope`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from metrics.base import MetricUndefined
from metrics.scope import SCOPE_CONFIG, ScopeConfig, apply_scope, crop_to_box, motion_area_box


def _rect_mask(shape: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


# -- motion_area_box -----------------------------------------------------------------


def test_box_grows_by_margin_and_squares_around_the_centre():
    # 40 x 20 box; 10% of each side added on each side: 48 x 24; x grown to 48, centred.
    mask = _rect_mask((256, 256), 100, 140, 110, 130)
    assert motion_area_box(mask, margin=0.1) == (96, 144, 96, 144)


def test_box_without_margin_is_the_tight_square():
    mask = _rect_mask((64, 64), 10, 30, 20, 40)
    assert motion_area_box(mask, margin=0.0) == (10, 30, 20, 40)


def test_odd_difference_puts_the_extra_pixel_after():
    mask = _rect_mask((64, 64), 10, 15, 20, 40)  # 5 x 20 -> grow y by 15: 7 before, 8 after
    assert motion_area_box(mask, margin=0.0) == (3, 23, 20, 40)


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_box_is_shifted_inside_the_frame(corner):
    if corner == "top-left":
        mask = _rect_mask((64, 64), 0, 10, 0, 10)
        expected = (0, 12, 0, 12)
    else:
        mask = _rect_mask((64, 64), 54, 64, 54, 64)
        expected = (52, 64, 52, 64)
    assert motion_area_box(mask, margin=0.1) == expected


def test_box_larger_than_a_square_frame_becomes_the_frame():
    mask = np.ones((64, 64), dtype=bool)
    assert motion_area_box(mask) == (0, 64, 0, 64)


def test_box_larger_than_the_frame_is_clamped_per_axis():
    # A full-height stripe in a wide frame: the square (78 px) does not fit vertically.
    mask = _rect_mask((64, 128), 0, 64, 60, 70)
    y0, y1, x0, x1 = motion_area_box(mask, margin=0.1)
    assert (y0, y1) == (0, 64)
    assert x1 - x0 == 78 and x0 <= 60 and x1 >= 70


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shape", [(64, 64), (48, 80)])
def test_box_properties_on_random_masks(seed, shape):
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    for _ in range(rng.integers(1, 4)):  # a few blobs anywhere, edges included
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        mask[y : y + rng.integers(1, 20), x : x + rng.integers(1, 20)] = True
    margin = float(rng.uniform(0.0, 0.3))
    y0, y1, x0, x1 = motion_area_box(mask, margin)
    assert 0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]
    rows, cols = np.nonzero(mask)
    assert y0 <= rows.min() and rows.max() < y1 and x0 <= cols.min() and cols.max() < x1
    if max(y1 - y0, x1 - x0) < min(shape):
        assert y1 - y0 == x1 - x0  # square whenever it fits


def test_empty_mask_is_undefined():
    with pytest.raises(MetricUndefined, match="empty"):
        motion_area_box(np.zeros((32, 32), dtype=bool))


def test_box_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        motion_area_box(np.ones((2, 8, 8), dtype=bool))
    with pytest.raises(ValueError, match="margin"):
        motion_area_box(np.ones((8, 8), dtype=bool), margin=-0.1)


# -- crop_to_box ---------------------------------------------------------------------


def _random_frames(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_enlarging_crop_uses_cubic_and_keeps_leading_axes():
    frames = _random_frames((2, 3, 64, 64, 3))
    box = (8, 40, 16, 48)
    out = crop_to_box(frames, box, size=96)
    assert out.shape == (2, 3, 96, 96, 3) and out.dtype == np.uint8
    expected = cv2.resize(frames[1, 2, 8:40, 16:48], (96, 96), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(out[1, 2], expected)


def test_shrinking_crop_uses_area():
    frame = _random_frames((128, 128, 3))
    out = crop_to_box(frame, (0, 128, 0, 128), size=32)
    np.testing.assert_array_equal(out, cv2.resize(frame, (32, 32), interpolation=cv2.INTER_AREA))


def test_crop_of_the_output_size_is_a_plain_copy():
    frames = _random_frames((4, 64, 64, 3))
    out = crop_to_box(frames, (0, 64, 0, 64), size=64)
    np.testing.assert_array_equal(out, frames)
    assert out is not frames and not np.shares_memory(out, frames)


def test_crop_of_a_constant_image_stays_constant():
    # Cubic overshoot would show here; a flat region must stay flat.
    frame = np.full((64, 64, 3), 200, dtype=np.uint8)
    assert np.all(crop_to_box(frame, (10, 30, 10, 30), size=256) == 200)


def test_mask_crop_stays_binary_and_keeps_its_share():
    mask = _rect_mask((64, 64), 20, 30, 20, 30)
    out = crop_to_box(mask, (15, 35, 15, 35), size=80)
    assert out.dtype == np.bool_ and out.shape == (80, 80)
    assert out.mean() == pytest.approx(100 / 400, abs=0.02)


def test_crop_rejects_bad_inputs():
    with pytest.raises(ValueError, match="not inside"):
        crop_to_box(_random_frames((32, 32, 3)), (0, 40, 0, 10))
    with pytest.raises(ValueError, match="uint8"):
        crop_to_box(np.zeros((32, 32, 3), dtype=np.float32), (0, 8, 0, 8))


# -- apply_scope ---------------------------------------------------------------------


def _clip_item(size=64, num_frames=3, seed=0):
    rng = np.random.default_rng(seed)
    context = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)
    mask = _rect_mask((size, size), 20, 36, 24, 34)
    return generated, target, context, mask


def test_full_scope_returns_the_inputs_unchanged():
    generated, target, context, mask = _clip_item()
    out = apply_scope("full", generated=generated, target=target, context=context, motion_area=mask)
    assert all(a is b for a, b in zip(out, (generated, target, context, mask)))
    out = apply_scope("full", generated=generated, target=target, context=context, motion_area=None)
    assert out[3] is None


def test_ma_scope_crops_everything_with_the_gt_box():
    generated, target, context, mask = _clip_item()
    config = ScopeConfig(size=48)
    gen, tgt, ctx, ma = apply_scope(
        "ma", generated=generated, target=target, context=context, motion_area=mask, config=config
    )
    box = motion_area_box(mask, config.margin)
    assert gen.shape == tgt.shape == (3, 48, 48, 3) and ctx.shape == (48, 48, 3) and ma.shape == (48, 48)
    np.testing.assert_array_equal(gen, crop_to_box(generated, box, 48))
    np.testing.assert_array_equal(tgt, crop_to_box(target, box, 48))
    np.testing.assert_array_equal(ctx, crop_to_box(context, box, 48))
    np.testing.assert_array_equal(ma, crop_to_box(mask, box, 48))
    assert 0 < ma.mean() < 1


def test_ma_scope_default_size_is_the_benchmark_frame():
    generated, target, context, mask = _clip_item(num_frames=1)
    gen, _, _, ma = apply_scope("ma", generated=generated, target=target, context=context, motion_area=mask)
    assert gen.shape[1:3] == ma.shape == (SCOPE_CONFIG.size, SCOPE_CONFIG.size) == (256, 256)


def test_ma_scope_needs_a_mask():
    generated, target, context, _ = _clip_item()
    with pytest.raises(MetricUndefined, match="motion-area mask"):
        apply_scope("ma", generated=generated, target=target, context=context, motion_area=None)
    with pytest.raises(MetricUndefined, match="empty"):
        apply_scope("ma", generated=generated, target=target, context=context, motion_area=np.zeros((64, 64), bool))


def test_apply_scope_rejects_unknown_scopes_and_mismatched_masks():
    generated, target, context, mask = _clip_item()
    with pytest.raises(ValueError, match="unknown scope"):
        apply_scope("hands", generated=generated, target=target, context=context, motion_area=mask)
    with pytest.raises(ValueError, match="does not match"):
        apply_scope("ma", generated=generated, target=target, context=context, motion_area=mask[:32])


def test_scope_config_is_recorded():
    config = json.loads(json.dumps(SCOPE_CONFIG.to_dict()))
    assert config == {
        "margin": 0.1,
        "size": 256,
        "image_interpolation": "area-if-shrinking-else-cubic",
        "mask_interpolation": "nearest",
    }


def test_ma_crop_of_a_real_frame_keeps_the_hand_region(shared_data):
    frames = sorted((shared_data / "hands/videos/epic_P01_01_frames").glob("*.jpg"))
    frame = cv2.cvtColor(cv2.imread(str(frames[0])), cv2.COLOR_BGR2RGB)  # 256 x 456
    mask = _rect_mask(frame.shape[:2], 35, 90, 320, 362)  # the hand in frame 0 (MediaPipe box)
    box = motion_area_box(mask)
    out = crop_to_box(frame, box, size=256)
    y0, y1, x0, x1 = box
    assert y1 - y0 == x1 - x0 < 256
    # Resampling back to the crop's own size recovers it closely: the crop is the region.
    back = cv2.resize(out, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(back - frame[y0:y1, x0:x1]).mean() < 4.0
