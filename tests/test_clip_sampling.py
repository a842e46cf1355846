"""Clip sampling (paper §4): evenly spaced frame indices, and resize + center crop to 256²."""

import numpy as np
import pytest

from hcvg.frames import evenly_spaced_indices, resize_center_crop


@pytest.mark.parametrize(
    ("start", "stop", "count", "expected"),
    [
        # 151 frames: exactly every 10th.
        (100, 250, 16, [100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240, 250]),
        # A step of 4/3: 0, 1.33, 2.67, 4, ... rounded to the nearest frame.
        (0, 20, 16, [0, 1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 19, 20]),
        # Fewer frames (5) than wanted (16): a step of 4/15, so frames repeat, in order.
        (5, 9, 16, [5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9]),
        # A one-frame segment gives that frame every time.
        (7, 7, 16, [7] * 16),
        (3, 8, 6, [3, 4, 5, 6, 7, 8]),  # exactly as many frames as wanted: all of them
        (10, 40, 4, [10, 20, 30, 40]),  # EgoVLP's 4-frame case
        (10, 40, 1, [10]),  # one frame: the start
    ],
)
def test_evenly_spaced_indices(start, stop, count, expected):
    idx = evenly_spaced_indices(start, stop, count)
    assert idx.dtype == np.int64
    assert idx.tolist() == expected


def test_empty_segment_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        evenly_spaced_indices(10, 9)
    with pytest.raises(ValueError, match="count"):
        evenly_spaced_indices(0, 9, 0)


def _coordinate_frame(height: int, width: int) -> np.ndarray:
    """A frame whose pixels encode their coordinates halved: R = (x // 2) % 256, G = (x // 2) // 256, B = y // 2.

    Each 2×2 block is one colour, so a 2× INTER_AREA shrink (a 2×2 mean) reproduces
    the halved coordinates exactly.
    """
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([(xs // 2) % 256, (xs // 2) // 256, (ys // 2) % 256], axis=-1).astype(np.uint8)


def _decode(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) coordinates encoded in a `_coordinate_frame`-style frame (after the shrink)."""
    x = frame[..., 0].astype(int) + 256 * frame[..., 1].astype(int)
    return x, frame[..., 2].astype(int)


def test_landscape_frame_keeps_its_central_columns():
    # 512 × 912 → short side 256: 256 × 456, then the central 256 of its 456 columns.
    out = resize_center_crop(_coordinate_frame(512, 912), 256)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    x, y = _decode(out)
    np.testing.assert_array_equal(x, np.broadcast_to(np.arange(100, 356), (256, 256)))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(256)[:, None], (256, 256)))


def test_portrait_frame_keeps_its_central_rows():
    # 912 × 512 (B encodes y // 2 modulo 256, so compare rows modulo 256).
    out = resize_center_crop(_coordinate_frame(912, 512), 256)
    x, y = _decode(out)
    np.testing.assert_array_equal(x, np.broadcast_to(np.arange(256), (256, 256)))
    np.testing.assert_array_equal(y, np.broadcast_to((np.arange(100, 356) % 256)[:, None], (256, 256)))


def test_shrinking_averages_instead_of_sampling():
    # Every 4th column at 252, the rest 0: a 4× shrink that averages (INTER_AREA) gives
    # 63 everywhere; one that samples (nearest, bilinear) gives 0 or 252 (aliasing).
    frame = np.zeros((1024, 1024, 3), dtype=np.uint8)
    frame[:, ::4] = 252
    out = resize_center_crop(frame, 256)
    assert out.min() == out.max() == 63


def test_frames_are_resized_independently_in_a_batch():
    frames = np.stack([_coordinate_frame(512, 912), 255 - _coordinate_frame(512, 912)])
    batch = resize_center_crop(frames, 256)
    assert batch.shape == (2, 256, 256, 3)
    for frame, out in zip(frames, batch):
        np.testing.assert_array_equal(out, resize_center_crop(frame, 256))
    np.testing.assert_array_equal(batch[1], 255 - batch[0])


def test_upscaling_keeps_a_flat_frame_flat_and_batches():
    frames = np.full((3, 100, 150, 3), (10, 120, 240), dtype=np.uint8)
    out = resize_center_crop(frames, 256)
    assert out.shape == (3, 256, 256, 3)
    assert (out == np.array([10, 120, 240], dtype=np.uint8)).all()
