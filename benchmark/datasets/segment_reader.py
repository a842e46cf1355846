"""Decode the frames of one segment: seek near its start, decode forward, stop at its end.

Source videos are minutes long (EPIC-KITCHENS at 1080p/60 fps), so a whole-video decode
per segment is out of the question. `read_segment_frames` seeks to the keyframe before
the first wanted frame (``container.seek``), decodes forward and stops after the last
one. Frames are identified by presentation time, converted to the annotation's frame
numbering with the annotation's fps, so a video re-encoded at another rate still gives
the frames nearest to the annotated ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import cv2
import numpy as np

from benchmark.datasets.segments import CORRUPT_VIDEO, MISSING_VIDEO, PAST_END, Segment, SegmentError

logger = logging.getLogger(__name__)

# Seek this many seconds before the first wanted frame, then further back if the demuxer
# lands after it (inexact seeking in some containers); None = from the very start.
_SEEK_MARGINS_S = (0.0, 2.0, 10.0, None)


def read_segment_frames(segment: Segment, numbers: np.ndarray) -> np.ndarray:
    """Read the frames with the given numbers from the segment's source.

    Args:
        segment: Where to read (``source``, ``source_kind``, numbering, fps).
        numbers: int ``[N]`` frame numbers in the dataset's numbering, non-decreasing;
            repeats are read once.

    Returns:
        uint8 ``[N, H, W, 3]`` RGB at the source's resolution.

    Raises:
        SegmentError: ``missing-video``, ``corrupt-video`` or ``past-end``.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    if segment.source_kind == "frames":
        return _read_frame_images(segment, numbers)
    if segment.source_kind != "video":
        raise ValueError(f"{segment.sample_id}: unknown source_kind {segment.source_kind!r}")
    return _read_video_frames(segment, numbers)


def _read_frame_images(segment: Segment, numbers: np.ndarray) -> np.ndarray:
    folder = Path(segment.source)
    if not folder.is_dir():
        raise SegmentError(MISSING_VIDEO, f"{folder}: no such frames directory")
    images: dict[int, np.ndarray] = {}
    for number in sorted(set(numbers.tolist())):
        path = folder / segment.frame_pattern.format(number)
        if not path.is_file():
            raise SegmentError(PAST_END, f"{path}: frame {number} missing (segment past the extracted frames?)")
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SegmentError(CORRUPT_VIDEO, f"{path}: cannot decode the image")
        images[number] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return _assemble(images, numbers, folder)


def _read_video_frames(segment: Segment, numbers: np.ndarray) -> np.ndarray:
    path = Path(segment.source)
    if not path.is_file():
        raise SegmentError(MISSING_VIDEO, f"{path}: no such video file")
    wanted = sorted(set(numbers.tolist()))
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SegmentError(CORRUPT_VIDEO, f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(segment.fps) if segment.fps else _stream_fps(stream, path)
            for margin in _SEEK_MARGINS_S:
                images = _decode_from(container, stream, segment, wanted, fps, margin, path)
                if images is not None:
                    return _assemble(images, numbers, path)
            raise SegmentError(CORRUPT_VIDEO, f"{path}: seeking never reached frame {wanted[0]}")
    except SegmentError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as err:
        raise SegmentError(CORRUPT_VIDEO, f"{path}: cannot decode ({type(err).__name__}: {err})") from err


def _stream_fps(stream: av.video.stream.VideoStream, path: Path) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise SegmentError(CORRUPT_VIDEO, f"{path}: the stream declares no frame rate and the annotation gives none")
    return float(rate)


def _decode_from(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    segment: Segment,
    wanted: list[int],
    fps: float,
    margin: float | None,
    path: Path,
) -> dict[int, np.ndarray] | None:
    """Seek ``margin`` s before the first wanted frame and decode forward.

    Returns the frames by number, or None if the seek landed after the first wanted
    frame (the caller retries from further back).
    """
    base = segment.first_frame_number
    time_base = float(stream.time_base)
    start_pts = stream.start_time or 0
    if margin is None:
        container.seek(start_pts, stream=stream, backward=True, any_frame=False)
    else:
        first_time = max(0.0, (wanted[0] - base) / fps - margin)
        container.seek(start_pts + int(first_time / time_base), stream=stream, backward=True, any_frame=False)

    images: dict[int, np.ndarray] = {}
    queue = list(wanted)
    previous: tuple[float, av.VideoFrame] | None = None
    first_position: float | None = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        # Position in annotation frame numbers; exact integers when the rates agree.
        position = base + (frame.pts - start_pts) * time_base * fps
        if first_position is None:
            first_position = position
            logger.debug("%s: seek for frame %d landed on frame %.0f", path, queue[0], position)
            if position > queue[0] + 0.5 and margin is not None:
                return None
        while queue and position >= queue[0] - 0.5:
            target = queue.pop(0)
            # The frame nearest the wanted number: this one or the one before it.
            if previous is not None and abs(previous[0] - target) < abs(position - target):
                images[target] = previous[1].to_ndarray(format="rgb24")
            else:
                images[target] = frame.to_ndarray(format="rgb24")
        if not queue:
            return images
        previous = (position, frame)
    # The stream ended before the last wanted frame; half a frame of slack for rounding.
    if previous is not None:
        while queue and queue[0] <= previous[0] + 0.5:
            images[queue.pop(0)] = previous[1].to_ndarray(format="rgb24")
    if queue:
        last = f"{previous[0]:.0f}" if previous is not None else "none"
        raise SegmentError(
            PAST_END, f"{path}: frames {queue[0]}..{queue[-1]} are past the video's end (last frame decoded: {last})"
        )
    return images


def _assemble(images: dict[int, np.ndarray], numbers: np.ndarray, source: Path) -> np.ndarray:
    shapes = {image.shape for image in images.values()}
    if len(shapes) != 1:
        raise SegmentError(CORRUPT_VIDEO, f"{source}: frames of different sizes {sorted(shapes)}")
    return np.stack([images[int(n)] for n in numbers])
