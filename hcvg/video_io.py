"""Video files with PyAV: lossless storage of generated clips, previews, robust reading.

Generated clips are stored losslessly (FFV1 in Matroska, ``bgr0`` pixels, which keeps
RGB exact): a lossy codec would move FID/FVD by itself.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from hcvg.atomic import atomic_write

VIDEO_SUFFIXES = (".mkv", ".mp4", ".avi", ".webm", ".mov", ".gif")
# Container formats we write, by suffix (named explicitly: temporary names end in .tmp).
_WRITE_FORMATS = {".mkv": "matroska", ".mp4": "mp4"}


class VideoReadError(RuntimeError):
    """A video file could not be read; the message names the file and the reason."""


def _check_frames(frames: np.ndarray, path: Path) -> None:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: frames must be uint8 [T,H,W,3], got {frames.dtype} {frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError(f"{path}: no frames to write")


def _encode(path: Path, container_format: str, frames: np.ndarray, codec: str, pix_fmt: str, fps: int, options: dict | None = None) -> None:
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())  # flush


def _write_format(path: Path) -> str:
    try:
        return _WRITE_FORMATS[path.suffix]
    except KeyError:
        raise ValueError(f"{path}: can write {', '.join(_WRITE_FORMATS)} files, not {path.suffix!r}") from None


def write_video_lossless(path: str | Path, frames: np.ndarray, fps: int = 8) -> Path:
    """Write frames to an FFV1/Matroska file, atomically; reading it back is bit-exact.

    Args:
        path: Destination, conventionally ``*.mkv``.
        frames: uint8 ``[T, H, W, 3]`` RGB.
        fps: Nominal frame rate stored in the container.

    Returns:
        The path written.
    """
    path = Path(path)
    _check_frames(frames, path)
    return atomic_write(path, lambda tmp: _encode(tmp, _write_format(path), frames, "ffv1", "bgr0", fps))


def write_video_preview(path: str | Path, frames: np.ndarray, fps: int = 8, crf: int = 18) -> Path:
    """Write a small H.264 MP4 for viewing (lossy: never scored).

    Args:
        path: Destination ``*.mp4``.
        frames: uint8 ``[T, H, W, 3]`` RGB with even H and W.
        fps: Frame rate.
        crf: x264 quality (lower is better).
    """
    path = Path(path)
    _check_frames(frames, path)
    return atomic_write(
        path,
        lambda tmp: _encode(tmp, _write_format(path), frames, "libx264", "yuv420p", fps, {"crf": str(crf), "preset": "medium"}),
    )


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a video (any format FFmpeg reads, GIF included) to RGB frames.

    Args:
        path: The video file.
        max_frames: Stop after this many frames.

    Returns:
        uint8 ``[T, H, W, 3]`` RGB.

    Raises:
        VideoReadError: If the file is missing, unreadable, corrupt or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: the file has no video stream")
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except VideoReadError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise VideoReadError(f"{path}: cannot decode video ({type(err).__name__}: {err})") from err
    if not frames:
        raise VideoReadError(f"{path}: decoded no frames (empty or corrupt file)")
    return np.stack(frames)
