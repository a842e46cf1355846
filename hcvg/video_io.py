"""Video files with PyAV: lossless storage of generated clips, previews, robust reading.

Generated clips are stored losslessly (FFV1 in Matroska, ``bgr0`` pixels, which keeps
RGB exact): a lossy codec would move FID/FVD by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    # bitexact: the muxer writes no random segment id, date or library version, so the
    # same frames give the same bytes (a resumed run's files equal an uninterrupted run's).
    with av.open(str(path), mode="w", format=container_format, container_options={"fflags": "+bitexact"}) as container:
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


@dataclass(frozen=True)
class VideoInfo:
    """What a video file's container says about its first video stream, before decoding.

    Attributes:
        pix_fmt: The stream's pixel format as FFmpeg names it (``"yuv420p"``, ``"gray"``).
        channels: Colour channels the pixel format carries, alpha not counted: 1 for a
            grayscale stream (``gray``, ``gray16le``, ``ya8``, ...), 3 otherwise.
        expected_frames: How many frames the container says the stream holds, or None
            where it does not say.
        frames_source: Where ``expected_frames`` comes from, in words for a message:
            ``"the container's frame count"`` (MP4, AVI store one) or ``"its duration
            2.000 s × 8 fps"`` (Matroska and WebM store only the duration).
        bits: The deepest colour component's bits (8; 10, 12 or 16 for deep formats
            such as ``yuv420p10le``, ``rgb48le``, ``gray16le``).
        alpha: The pixel format carries an alpha channel (``rgba``, ``yuva420p``).
    """

    pix_fmt: str
    channels: int
    expected_frames: int | None
    frames_source: str | None
    bits: int = 8
    alpha: bool = False

    @property
    def grayscale(self) -> bool:
        """The stream stores one colour channel: decoding to RGB repeats it three times."""
        return self.channels == 1


def _stream_info(container: av.container.InputContainer) -> VideoInfo:
    stream = container.streams.video[0]
    pix_fmt = stream.codec_context.pix_fmt or "unknown"
    bits, alpha = 8, False
    try:
        fmt = av.VideoFormat(pix_fmt)
        # A palette (GIF's pal8) holds colour behind its single index plane.
        channels = 3 if fmt.has_palette or fmt.is_rgb else sum(1 for c in fmt.components if not c.is_alpha)
        bits = max((c.bits for c in fmt.components if not c.is_alpha), default=8)
        alpha = any(c.is_alpha for c in fmt.components)
    except ValueError:  # a format PyAV does not know: taken as 8-bit colour; `folder` still checks the frames for R = G = B
        channels = 3
    depth = {"bits": bits, "alpha": alpha}
    if stream.frames:
        return VideoInfo(pix_fmt, channels, int(stream.frames), "the container's frame count", **depth)
    rate = stream.average_rate or stream.guessed_rate
    seconds = _stream_seconds(container, stream)
    if rate and seconds:
        expected = round(seconds * float(rate))
        return VideoInfo(pix_fmt, channels, expected, f"its duration {seconds:.3f} s × {float(rate):g} fps", **depth)
    return VideoInfo(pix_fmt, channels, None, None, **depth)


def _stream_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """The video stream's duration: its own, Matroska's per-track tag, or the file's if it is the only stream."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION")  # "HH:MM:SS.nnnnnnnnn", written by FFmpeg's Matroska muxer
    if tag:
        try:
            hours, minutes, secs = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(secs)
        except ValueError:
            pass  # a malformed tag says nothing; fall through to the container
    if container.duration is not None and len(container.streams) == 1:  # with audio beside it, the file may run longer
        return container.duration / av.time_base
    return None


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's header: its pixel format and declared frame count (nothing is decoded).

    Raises:
        VideoReadError: If the file is missing, empty, not a video or unreadable.
    """
    path = _existing_video(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: the file has no video stream")
            return _stream_info(container)
    except VideoReadError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise VideoReadError(f"{path}: cannot open video ({type(err).__name__}: {err})") from err


def _existing_video(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file")
    if path.stat().st_size == 0:  # FFmpeg's own word for it is a vague "Invalid data"
        raise VideoReadError(f"{path}: the file is empty (0 bytes)")
    return path


def _truncated(path: Path, decoded: int, info: VideoInfo) -> str:
    return (
        f"{path}: decoded {decoded} of the container's {info.expected_frames} frames: the file is truncated "
        f"({info.expected_frames} from {info.frames_source})"
    )


# What `read_video` can decode to: FFmpeg's pixel format → channels of the array.
READ_FORMATS = {"rgb24": 3, "rgba": 4, "rgb48le": 3}


def read_video(path: str | Path, max_frames: int | None = None, pixel_format: str = "rgb24") -> np.ndarray:
    """Decode a video (any format FFmpeg reads, GIF included) to RGB frames.

    A file that ends before the frames its container declares (a copy cut short, a
    writer killed after the header was finalized) is refused as truncated rather than
    returned short; the message says where the declared count comes from.

    Args:
        path: The video file.
        max_frames: Stop after this many frames (the truncation check is then skipped).
        pixel_format: What to decode to: ``"rgb24"`` (FFmpeg drops any alpha and keeps
            the top 8 bits of deeper formats), ``"rgba"`` (keeps alpha) or
            ``"rgb48le"`` (16 bits a channel, for deep formats). `probe_video` tells
            which a file needs (``VideoInfo.alpha``, ``VideoInfo.bits``).

    Returns:
        uint8 ``[T, H, W, 3]`` RGB (``[T, H, W, 4]`` RGBA for ``"rgba"``; uint16 for
        ``"rgb48le"``); a grayscale stream's one channel is repeated (`probe_video`
        tells such a stream apart).

    Raises:
        VideoReadError: If the file is missing, empty (0 bytes), unreadable, corrupt,
            truncated or holds no frames.
        ValueError: If ``pixel_format`` is not one of `READ_FORMATS`.
    """
    if pixel_format not in READ_FORMATS:
        raise ValueError(f"read_video: pixel_format must be one of {', '.join(READ_FORMATS)}; got {pixel_format!r}")
    path = _existing_video(path)
    frames = []
    info: VideoInfo | None = None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: the file has no video stream")
            info = _stream_info(container)
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format=pixel_format))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except VideoReadError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as err:
        if frames and info is not None and info.expected_frames and len(frames) < info.expected_frames:
            raise VideoReadError(f"{_truncated(path, len(frames), info)} ({type(err).__name__}: {err})") from err
        raise VideoReadError(f"{path}: cannot decode video ({type(err).__name__}: {err})") from err
    if not frames:
        raise VideoReadError(f"{path}: decoded no frames (empty or corrupt file)")
    if max_frames is None and info is not None and info.expected_frames and len(frames) < info.expected_frames:
        raise VideoReadError(_truncated(path, len(frames), info))
    return np.stack(frames)
