"""Action segments and the choice of which frames of a segment make a clip.

A `Segment` is one annotated action in a source video, in the dataset's own frame
numbering (EPIC-KITCHENS counts from 1, Ego4D from 0). Dataset modules build segments;
`sample_frame_indices` picks the clip's frames; `benchmark.datasets.segment_reader`
decodes them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from hcvg.frames import evenly_spaced_indices

# Sampling modes. "even" is the paper's (§4, Implementation Details); "end-8fps" is what
# HANDI's released code does: frames 1/8 s apart, ending on the segment's last frame.
SAMPLING_MODES = ("even", "end-8fps")
CLIP_FRAMES = 16  # frame 0 = context, frames 1..15 = target (L = 15)

# Why a segment was skipped; the reason codes written to the cache's report.
MISSING_VIDEO = "missing-video"
CORRUPT_VIDEO = "corrupt-video"
PAST_END = "past-end"
TOO_SHORT = "too-short"
BAD_ANNOTATION = "bad-annotation"


class SegmentError(Exception):
    """A segment cannot become a clip; ``reason`` is one of the reason codes above.

    Args:
        reason: Machine-readable reason code (``"missing-video"``, ``"past-end"``, ...).
        message: Human-readable detail naming the file or the frames at fault.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Segment:
    """One annotated action segment of one source video.

    Attributes:
        sample_id: Unique id within the dataset (EK: the narration_id).
        dataset: Dataset key (``"ek100"``, ``"ego4d"``).
        prompt: The action text (EK narration; Ego4D narration without ``"#C C "``).
        video_id: The source video (EK ``P01_11``) or clip (Ego4D clip uid).
        start_frame: First frame of the action, in the dataset's numbering (inclusive).
        stop_frame: Last frame of the action (inclusive).
        source: Path of the source video file, or of the directory of frame images.
        source_kind: ``"video"`` or ``"frames"``.
        first_frame_number: Number the dataset gives the first frame of a video (EK 1,
            Ego4D 0); decoded frame ``i`` (0-based) has number ``first_frame_number + i``.
        fps: Frame rate the annotation's frame numbers count at; None = the stream's.
        participant_id: Camera wearer, where known.
        expanded_prompt: Enriched description (LEGO's ``llava_forecast_finetune``).
        frame_pattern: File name of frame number ``n`` in a frames directory.
        extra: Further annotation fields kept for provenance (verb, noun, ...).
    """

    sample_id: str
    dataset: str
    prompt: str
    video_id: str
    start_frame: int
    stop_frame: int
    source: str
    source_kind: str = "video"
    first_frame_number: int = 0
    fps: float | None = None
    participant_id: str | None = None
    expanded_prompt: str | None = None
    frame_pattern: str = "frame_{:010d}.jpg"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_frame_indices(
    segment: Segment, mode: str = "even", count: int = CLIP_FRAMES, allow_repeats: bool = False
) -> np.ndarray:
    """The frame numbers of a segment that make its clip.

    ``"even"``: ``count`` frames evenly spread from ``start_frame`` to ``stop_frame``,
    both included (paper §4). ``"end-8fps"``: ``count`` frames 1/8 s apart (in the
    segment's fps) ending on ``stop_frame``; a window longer than the segment reaches
    back before ``start_frame`` (a fixed 15/8 s window, as HANDI's released code takes),
    clamped at the video's first frame.

    Args:
        segment: The action segment.
        mode: One of `SAMPLING_MODES`.
        count: Frames per clip (16: context + 15 target frames).
        allow_repeats: ``"even"`` only: accept segments shorter than ``count`` frames by
            repeating frames. Off by default: repeated frames are frozen motion, which
            would flatter static baselines on a motion benchmark.

    Returns:
        int64 ``[count]`` non-decreasing frame numbers, in the dataset's numbering.

    Raises:
        SegmentError: ``too-short`` (fewer than ``count`` frames and repeats not
            allowed) or ``bad-annotation`` (empty segment, unknown fps for end-8fps).
        ValueError: If ``mode`` is unknown.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; choose one of {SAMPLING_MODES}")
    start, stop = int(segment.start_frame), int(segment.stop_frame)
    if stop < start or start < segment.first_frame_number:
        raise SegmentError(BAD_ANNOTATION, f"{segment.sample_id}: invalid segment [{start}, {stop}]")
    if mode == "even":
        if stop - start + 1 < count and not allow_repeats:
            raise SegmentError(
                TOO_SHORT,
                f"{segment.sample_id}: segment [{start}, {stop}] has {stop - start + 1} frames, fewer than "
                f"{count} (pass allow_repeats to repeat frames)",
            )
        return evenly_spaced_indices(start, stop, count)
    if not segment.fps or segment.fps <= 0:
        raise SegmentError(BAD_ANNOTATION, f"{segment.sample_id}: end-8fps sampling needs the video's fps")
    step = segment.fps / 8.0
    offsets = np.rint(np.arange(count - 1, -1, -1) * step).astype(np.int64)
    return np.maximum(stop - offsets, segment.first_frame_number).astype(np.int64)
