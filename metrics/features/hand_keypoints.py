"""Hand keypoints as features: the MediaPipe hand landmarker run over a clip.

The landmarker runs in one of two modes, the extractor's ``mode`` option, recorded in
its config (and so in the feature fingerprint and the run config):

* ``video`` (the default): one fresh landmarker per clip that tracks each hand from the
  previous frame's landmarks and runs the palm detector again only when tracking is
  lost; ``fps`` sets the timestamps it is given (8, the benchmark clips' nominal rate).
* ``image``: every frame on its own, palm detector then landmark model.

The paper's detector Υ "is aware of the temporal information in the video" (§3.2), and
VIDEO is also the mode the numbers favour (``python -m benchmark.hand_detector_modes``):
on the demo split's drawn hands (ground truth, 48 clips, 1,032 visible hands) VIDEO
finds 98.9% of them against IMAGE's 93.7% at the same precision (99.7% vs 99.6%), with
a lower keypoint error (5.6 vs 6.2 px at 256²); on the real clips of
``../shared/data/hands`` it finds 543 hands where IMAGE (and the reference
``detections.json``) find 510, and the extra ones checked by eye are mostly real hands
IMAGE misses (hands on a blender lid, fists in dough), with one tracked ghost (4 frames
of an Ego4D clip). The timestamps do not move VIDEO's output: at 8 fps, 30 fps or the
file's own rate the keypoints are identical.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar, Literal

import numpy as np

from handi.hands.detector import NOMINAL_FPS
from metrics.features.base import FeatureExtractor, gather_futures

logger = logging.getLogger(__name__)

#: The landmarker's running mode: frame by frame, or tracking through the clip.
HandMode = Literal["image", "video"]
DEFAULT_MODE: HandMode = "video"


class HandKeypointsExtractor(FeatureExtractor):
    """Keypoints of both hands per frame: float32 ``[T, 2, 21, 2]``, NaN where missing.

    Args:
        model_path: The ``hand_landmarker.task`` bundle (None: resolve the asset).
        mode: "video" (track through the clip, the default) or "image" (each frame alone).
        fps: VIDEO mode only: the frame rate its timestamps are computed from; None
            means the benchmark clips' nominal rate, `NOMINAL_FPS` (8).
        min_hand_detection_confidence: Palm-detector threshold (see `MediaPipeHandDetector`).
        min_hand_presence_confidence: Landmark-model hand-presence threshold.
        min_tracking_confidence: VIDEO mode: below this the palm detector runs again.
        mirrored_input: True for horizontally mirrored footage (swaps left and right).
        workers: CPU worker processes detecting clips in parallel (0: in this process).
            Each worker holds its own detector with these settings and takes whole clips
            (a fresh VIDEO-mode landmarker per clip, as here), so the keypoints equal the
            serial path's exactly; `submit` returns at once, so the scorer runs the GPU
            backbones while the workers detect. Not part of `config`: it moves no number.

    Raises:
        ValueError: On an unknown mode, a non-positive fps, an fps given in IMAGE
            mode (where no timestamps exist, so it would silently do nothing), or a
            negative worker count.
    """

    name: ClassVar[str] = "hand-keypoints"

    def __init__(
        self,
        model_path: str | None = None,
        mode: HandMode = DEFAULT_MODE,
        fps: float | None = None,
        min_hand_detection_confidence: float = 0.5,
        min_hand_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        mirrored_input: bool = False,
        workers: int = 0,
    ):
        if workers < 0:
            raise ValueError(f"hand-keypoints: workers must be >= 0 (0 detects in this process), got {workers}")
        if mode not in ("image", "video"):
            raise ValueError(f"hand-keypoints: unknown mode {mode!r}; use mode=image or mode=video")
        if mode == "image" and fps is not None:
            raise ValueError(
                f"hand-keypoints: fps={fps} only applies to mode=video (IMAGE mode has no timestamps); "
                "drop fps or add mode=video"
            )
        if fps is not None and not fps > 0:
            raise ValueError(f"hand-keypoints: fps must be > 0, got {fps}")
        from handi.hands.detector import MediaPipeHandDetector  # mediapipe loads only when used

        # Every detector setting is a named, typed option, so `hcvg.options` checks them
        # (a misspelt one gets "did you mean" instead of reaching MediaPipe).
        self.detector = MediaPipeHandDetector(
            model_path=model_path,
            min_hand_detection_confidence=min_hand_detection_confidence,
            min_hand_presence_confidence=min_hand_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
            mirrored_input=mirrored_input,
        )
        self.mode: HandMode = mode
        self.fps = (NOMINAL_FPS if fps is None else float(fps)) if mode == "video" else None
        self.workers = int(workers)
        self._settings = dict(
            model_path=str(self.detector.model_path), min_hand_detection_confidence=min_hand_detection_confidence,
            min_hand_presence_confidence=min_hand_presence_confidence, min_tracking_confidence=min_tracking_confidence,
            mirrored_input=mirrored_input,
        )
        self._pool: ProcessPoolExecutor | None = None

    @property
    def runs_in_background(self) -> bool:
        """True with worker processes: `submit` returns before the keypoints are found."""
        return self.workers > 0

    def config(self) -> dict[str, Any]:
        """The detector's settings plus ``mode`` and, in VIDEO mode only, ``fps``."""
        config = {**self.detector.config(), "mode": self.mode}
        if self.mode == "video":
            config["fps"] = self.fps
        return config

    def weights_digest(self) -> str:
        """The sha256 of the ``.task`` bundle (palm detector and landmark model), not its path."""
        return self.detector.config()["model_sha256"]

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        """Keypoints of each uint8 ``[T, H, W, 3]`` clip: float32 ``[T, 2, 21, 2]``."""
        if self.workers:
            return self.submit(videos).result()
        return [_detect(self.detector, self.mode, self.fps, video) for video in videos]

    def submit(self, videos: list[np.ndarray]) -> Future:
        """Start detecting; with workers, the clips go to the process pool and this returns at once."""
        if not self.workers:
            return super().submit(videos)
        if self._pool is None:
            # "spawn": a forked child would inherit torch's and MediaPipe's threads mid-state.
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(self._settings, self.mode, self.fps),
            )
            atexit.register(self._pool.shutdown, cancel_futures=True)
        try:
            return gather_futures([self._pool.submit(_detect_in_worker, video) for video in videos])
        except BrokenProcessPool:
            # A worker died (killed, out of memory): its clips failed and were recorded by
            # the caller; the clips from now on get new workers.
            logger.warning("hand-keypoints: a worker process died; starting %d new ones", self.workers)
            self.close()
            return self.submit(videos)

    def close(self) -> None:
        """Stop the worker processes (a later call starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _detect(detector: Any, mode: HandMode, fps: float | None, video: np.ndarray) -> np.ndarray:
    """float32 ``[T, 2, 21, 2]`` keypoints of one clip, as `HandKeypointsExtractor.extract` finds them."""
    result = detector.detect_video(video, fps) if mode == "video" else detector.detect_images(video)
    return result.keypoints.astype(np.float32)


_WORKER: dict[str, Any] = {}  # the detector of this worker process and its running mode


def _start_worker(settings: dict[str, Any], mode: HandMode, fps: float | None) -> None:
    from handi.hands.detector import MediaPipeHandDetector

    _WORKER.update(detector=MediaPipeHandDetector(**settings), mode=mode, fps=fps)


def _detect_in_worker(video: np.ndarray) -> np.ndarray:
    return _detect(_WORKER["detector"], _WORKER["mode"], _WORKER["fps"], video)
