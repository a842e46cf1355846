"""Hand keypoint detection: the :class:`HandDetector` protocol and a MediaPipe backend.

Every consumer (HANDI's hand-pose conditioning, the HS-Err metric, the demo split)
gets keypoints in one layout, :class:`HandKeypoints`: two fixed slots per frame,
slot 0 = the person's left hand, slot 1 = the right hand, NaN where a hand is absent.

Handedness. MediaPipe's legacy Solutions API documented its labels as assuming a
mirrored (selfie) image. The Tasks API used here does not: its result docstring says
the labels "correspond to the subject's hands" and that a mirrored image inverts them,
and the project's reference data agrees (``/work/shared/data/hands``: on every
egocentric still and clip, frames that are not mirrored, MediaPipe's "Right" hand is on
the right of the image and "Left" on the left; on third-person footage of a person
facing the camera, "Right" is on the image's left, as a real right hand would be).
So :class:`MediaPipeHandDetector` keeps MediaPipe's label for ordinary, unmirrored
footage (``mirrored_input=False``, the default, which covers egocentric video) and
swaps it only for mirrored input (``mirrored_input=True``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from hcvg.assets import resolve_asset, sha256_of
from hcvg.native_logs import quiet_native_logs

logger = logging.getLogger(__name__)

NUM_HANDS = 2
NUM_JOINTS = 21
LEFT, RIGHT = 0, 1
# Benchmark clips are 16 frames evenly spread over 1-2.4 s segments (paper §4): about
# 8 fps, the rate VIDEO mode is told when a clip has no timestamps of its own.
NOMINAL_FPS = 8.0


def hand_presence(keypoints: np.ndarray) -> np.ndarray:
    """bool ``[T, 2]``: which hand slots of float ``[T, 2, 21, 2]`` keypoints hold a hand."""
    return ~np.isnan(keypoints).all(axis=(-1, -2))


@dataclass
class HandKeypoints:
    """Per-frame keypoints of the person's two hands.

    Attributes:
        keypoints: float32 ``[T, 2, 21, 2]``: (x, y) normalized by image width and
            height (values may fall slightly outside [0, 1]), MediaPipe joint order
            (0 = wrist, 4 = thumb tip, ..., 20 = pinky tip); hand 0 = the person's
            left hand, hand 1 = the right hand; NaN where that hand was not detected.
        scores: float32 ``[T, 2]``: the detector's confidence for the hand in that
            slot (MediaPipe: the handedness score); NaN where the hand is missing.
        image_size: ``(H, W)`` of the frames, in pixels.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        t = self.keypoints.shape[0]
        if self.keypoints.shape != (t, NUM_HANDS, NUM_JOINTS, 2):
            raise ValueError(f"keypoints must have shape [T, 2, 21, 2], got {self.keypoints.shape}")
        if self.scores.shape != (t, NUM_HANDS):
            raise ValueError(f"scores must have shape [T, 2] = [{t}, 2], got {self.scores.shape}")

    @classmethod
    def empty(cls, num_frames: int, image_size: tuple[int, int]) -> "HandKeypoints":
        """All-missing keypoints for ``num_frames`` frames."""
        return cls(
            keypoints=np.full((num_frames, NUM_HANDS, NUM_JOINTS, 2), np.nan, dtype=np.float32),
            scores=np.full((num_frames, NUM_HANDS), np.nan, dtype=np.float32),
            image_size=image_size,
        )

    @property
    def present(self) -> np.ndarray:
        """bool ``[T, 2]``: whether each hand was detected in each frame."""
        return ~np.isnan(self.scores)

    @property
    def num_hands(self) -> np.ndarray:
        """int ``[T]``: number of hands detected per frame."""
        return self.present.sum(axis=1)

    def __len__(self) -> int:
        return self.keypoints.shape[0]


@runtime_checkable
class HandDetector(Protocol):
    """Finds the two hands' 21 keypoints in RGB frames."""

    def detect_images(self, frames: np.ndarray) -> HandKeypoints:
        """Detect hands in each frame on its own (no temporal state).

        Args:
            frames: uint8 ``[T, H, W, 3]`` RGB, values 0..255.

        Returns:
            Keypoints for the T frames.
        """
        ...

    def detect_video(self, frames: np.ndarray, fps: float) -> HandKeypoints:
        """Detect hands in consecutive frames of one video, tracking them over time.

        Args:
            frames: uint8 ``[T, H, W, 3]`` RGB, values 0..255, in time order.
            fps: Frames per second of the video (> 0).

        Returns:
            Keypoints for the T frames.
        """
        ...

    def config(self) -> dict[str, Any]:
        """The settings that determine the output, to record in a run config."""
        ...


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"frames must be uint8 RGB with shape [T, H, W, 3], got shape {frames.shape}; "
            "add a leading axis for a single image (frame[None])"
        )
    if frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 in 0..255, got {frames.dtype}; "
            "convert floats in [0, 1] with (x * 255).round().astype(np.uint8)"
        )
    return frames


@dataclass
class MediaPipeHandDetector:
    """MediaPipe Tasks ``HandLandmarker`` behind the :class:`HandDetector` protocol.

    ``detect_images`` runs the landmarker in IMAGE mode, one landmarker reused for all
    calls; ``detect_video`` runs a fresh landmarker in VIDEO mode per call (VIDEO mode
    requires increasing timestamps, so state must not leak between videos). Use it as
    a context manager, or call :meth:`close`, to free the landmarkers.

    MediaPipe's native log lines (LiteRT ``INFO:`` lines at every landmarker's creation
    and close, absl warnings) are held back around every call into it
    (`hcvg.native_logs`; ``hcvg -v`` shows them).

    Slot assignment: a hand labelled "Left" goes to slot 0 and "Right" to slot 1, with
    the labels swapped first when ``mirrored_input`` is True (see the module docstring
    for why unmirrored, e.g. egocentric, footage keeps MediaPipe's labels). If both
    detections carry the same label, the one with the higher handedness score keeps
    that slot and the other takes the free slot: the less confident label is the one
    more likely wrong, and this rule, unlike one based on image position, does not
    depend on whether the camera faces the person or is worn by them.

    Args:
        model_path: The ``hand_landmarker.task`` bundle; None resolves the
            ``hand-landmarker`` asset (env var ``HCVG_HAND_LANDMARKER``, then the cache).
        min_hand_detection_confidence: Palm-detector score threshold. Default 0.5.
        min_hand_presence_confidence: Landmark-model hand-presence threshold. Default 0.5.
        min_tracking_confidence: VIDEO mode only: below this, the palm detector runs
            again instead of tracking from the previous frame. Default 0.5.
        mirrored_input: True if frames are horizontally mirrored (selfie previews).
            Default False.

    Raises:
        hcvg.assets.AssetNotFoundError: If the model bundle cannot be found.
    """

    model_path: str | os.PathLike[str] | None = None
    min_hand_detection_confidence: float = 0.5
    min_hand_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    mirrored_input: bool = False
    _image_landmarker: Any = field(default=None, init=False, repr=False)
    _model_sha256: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("min_hand_detection_confidence", "min_hand_presence_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        # Resolve now, so that a missing model fails at construction with the asset's
        # instructions rather than at the first frame.
        self.model_path = resolve_asset("hand-landmarker", self.model_path)

    # -- landmarker lifecycle ----------------------------------------------------
    def _create(self, video: bool) -> Any:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import HandLandmarker, HandLandmarkerOptions, RunningMode

        options = HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE,
            num_hands=NUM_HANDS,
            min_hand_detection_confidence=self.min_hand_detection_confidence,
            min_hand_presence_confidence=self.min_hand_presence_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        )
        return HandLandmarker.create_from_options(options)

    def close(self) -> None:
        """Free the IMAGE-mode landmarker (a later call creates a new one)."""
        if self._image_landmarker is not None:
            with quiet_native_logs():
                self._image_landmarker.close()
            self._image_landmarker = None

    def __enter__(self) -> "MediaPipeHandDetector":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: mediapipe may already be gone
            pass

    # -- detection -----------------------------------------------------------------
    def detect_images(self, frames: np.ndarray) -> HandKeypoints:
        """Detect hands in each frame independently (IMAGE mode).

        Args:
            frames: uint8 ``[T, H, W, 3]`` RGB.

        Returns:
            Keypoints for the T frames.
        """
        frames = _check_frames(frames)
        out = HandKeypoints.empty(len(frames), frames.shape[1:3])
        with quiet_native_logs():
            if self._image_landmarker is None:
                self._image_landmarker = self._create(video=False)
            for t, frame in enumerate(frames):
                result = self._image_landmarker.detect(_to_mp_image(frame))
                self._fill(out, t, result)
        return out

    def detect_video(self, frames: np.ndarray, fps: float) -> HandKeypoints:
        """Detect and track hands through one video (VIDEO mode, fresh landmarker).

        Args:
            frames: uint8 ``[T, H, W, 3]`` RGB, in time order.
            fps: Frames per second, used for the landmarker's timestamps.

        Returns:
            Keypoints for the T frames.
        """
        frames = _check_frames(frames)
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        out = HandKeypoints.empty(len(frames), frames.shape[1:3])
        with quiet_native_logs():
            landmarker = self._create(video=True)
            try:
                last_ms = -1
                for t, frame in enumerate(frames):
                    # Timestamps must strictly increase; rounding at very high fps could repeat one.
                    ts_ms = max(int(round(t * 1000.0 / fps)), last_ms + 1)
                    last_ms = ts_ms
                    self._fill(out, t, landmarker.detect_for_video(_to_mp_image(frame), ts_ms))
            finally:
                landmarker.close()
        return out

    def _fill(self, out: HandKeypoints, t: int, result: Any) -> None:
        """Write one frame's MediaPipe result into slots ``out[t]``."""
        labels = [h[0].category_name for h in result.handedness]
        scores = [float(h[0].score) for h in result.handedness]
        slots = assign_hand_slots(labels, scores, self.mirrored_input)
        for landmarks, score, slot in zip(result.hand_landmarks, scores, slots):
            if slot is None:
                continue
            out.keypoints[t, slot] = [(lm.x, lm.y) for lm in landmarks]
            out.scores[t, slot] = score

    def config(self) -> dict[str, Any]:
        """Settings to record in a run config (model file and digest included)."""
        import mediapipe

        if self._model_sha256 is None:
            self._model_sha256 = sha256_of(self.model_path)
        return {
            "backend": "mediapipe-hand-landmarker",
            "mediapipe_version": mediapipe.__version__,
            "model_path": str(self.model_path),
            "model_sha256": self._model_sha256,
            "num_hands": NUM_HANDS,
            "min_hand_detection_confidence": self.min_hand_detection_confidence,
            "min_hand_presence_confidence": self.min_hand_presence_confidence,
            "min_tracking_confidence": self.min_tracking_confidence,
            "mirrored_input": self.mirrored_input,
            "handedness_rule": "mediapipe-label (swapped if mirrored_input); ties: higher score keeps slot",
        }


def assign_hand_slots(
    labels: Sequence[str], scores: Sequence[float], mirrored_input: bool = False
) -> list[int | None]:
    """Map one frame's detections to slots (0 = the person's left hand, 1 = right).

    Args:
        labels: MediaPipe handedness label per detection, "Left" or "Right".
        scores: Handedness score per detection, in [0, 1].
        mirrored_input: True if the frame is horizontally mirrored; the labels are
            then swapped (MediaPipe's Tasks API labels the hand as it appears).

    Returns:
        The slot of each detection, in input order; None for detections beyond two.
        If two detections get the same slot, the higher-scored one keeps it and the
        other takes the free slot.

    Raises:
        ValueError: If the lengths differ or a label is not "Left"/"Right".
    """
    if len(labels) != len(scores):
        raise ValueError(f"got {len(labels)} labels but {len(scores)} scores")
    slots: list[int | None] = [None] * len(labels)
    taken: set[int] = set()
    # Highest score first, so it keeps its labelled slot on a collision; the stable
    # sort keeps MediaPipe's order between equal scores.
    for i in sorted(range(len(labels)), key=lambda i: -scores[i])[:NUM_HANDS]:
        if labels[i] not in ("Left", "Right"):
            raise ValueError(f"unexpected handedness label {labels[i]!r}; expected 'Left' or 'Right'")
        slot = LEFT if labels[i] == "Left" else RIGHT
        if mirrored_input:
            slot = 1 - slot
        if slot in taken:
            slot = 1 - slot
        taken.add(slot)
        slots[i] = slot
    return slots


def _to_mp_image(frame: np.ndarray) -> Any:
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))


__all__ = ["LEFT", "RIGHT", "HandDetector", "HandKeypoints", "MediaPipeHandDetector", "assign_hand_slots"]
