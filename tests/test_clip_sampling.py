import numpy as np
import pytest

from hcvg.frames import evenly_spaced_indices, resize_center_crop


def test_sixteen_evenly_spaced_frames_include_both_ends():
    idx = evenly_spaced_indices(100, 250, 16)
    assert idx.tolist() == [100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240, 250]


def test_uneven_segment_is_rounded_and_unique():
    idx = evenly_spaced_indices(0, 20, 16)
    assert idx[0] == 0 and idx[-1] == 20
    assert len(set(idx.tolist())) == 16
    assert np.all(np.diff(idx) >= 1)


def test_short_segment_repeats_frames():
    idx = evenly_spaced_indices(5, 9, 16)
    assert idx.min() == 5 and idx.max() == 9 and np.all(np.diff(idx) >= 0)


def test_empty_segment_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        evenly_spaced_indices(10, 9)


def test_resize_center_crop_keeps_the_center():
    frame = np.zeros((256, 456, 3), dtype=np.uint8)
    frame[:, 100:356] = 255  # the central 256 columns
    out = resize_center_crop(frame, 256)
    assert out.shape == (256, 256, 3)
    assert out.min() == 255


def test_resize_center_crop_batches_and_upscales():
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 100, 150, 3), dtype=np.uint8)
    assert resize_center_crop(frames, 256).shape == (3, 256, 256, 3)
