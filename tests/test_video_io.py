import numpy as np
import pytest

from hcvg.video_io import VideoReadError, read_video, write_video_lossless, write_video_preview


def test_lossless_roundtrip_is_bit_exact(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, size=(15, 64, 48, 3), dtype=np.uint8)
    path = write_video_lossless(tmp_path / "clip.mkv", frames)
    assert np.array_equal(read_video(path), frames)
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_preview_is_readable_and_close(tmp_path):
    frames = np.full((8, 64, 64, 3), 128, dtype=np.uint8)
    path = write_video_preview(tmp_path / "clip.mp4", frames)
    decoded = read_video(path)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - 128).max() <= 3


def test_corrupt_file_error_names_the_file(tmp_path):
    path = tmp_path / "broken.mkv"
    path.write_bytes(b"not a video" * 50)
    with pytest.raises(VideoReadError, match="broken.mkv"):
        read_video(path)


def test_truncated_file_is_an_error(tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, size=(15, 64, 64, 3), dtype=np.uint8)
    path = write_video_lossless(tmp_path / "clip.mkv", frames)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(VideoReadError, match="clip.mkv"):
        read_video(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(VideoReadError, match="no such video file"):
        read_video(tmp_path / "nope.mkv")


def test_reads_real_gif(shared_data):
    video = read_video(shared_data / "hands" / "generated" / "handi_docs_31.gif")
    assert video.shape == (20, 183, 320, 3)
    assert video.dtype == np.uint8


def test_rejects_wrong_dtype(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video_lossless(tmp_path / "x.mkv", np.zeros((2, 8, 8, 3), dtype=np.float32))
