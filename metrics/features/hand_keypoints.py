"""Hand keypoints as features: the MediaPipe hand landmarker run over a clip.

The paper's detector Υ "is aware of the temporal information in the video" (§3.2), so
clips run in VIDEO mode (tracking across frames), one fresh landmarker per clip.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from handi.hands.detector import NOMINAL_FPS
from metrics.features.base import FeatureExtractor


class HandKeypointsExtractor(FeatureExtractor):
    """Keypoints of both hands per frame: float32 ``[T, 2, 21, 2]``, NaN where missing.

    Args:
        model_path: The ``hand_landmarker.task`` bundle (None: resolve the asset).
        fps: Frame rate given to the landmarker's VIDEO mode.
        video_mode: Track through the clip (True) or detect frame by frame (False).
        **thresholds: MediaPipe confidence thresholds (see `MediaPipeHandDetector`).
    """

    name: ClassVar[str] = "hand-keypoints"

    def __init__(self, model_path: str | None = None, fps: float = NOMINAL_FPS, video_mode: bool = True, **thresholds: float):
        from handi.hands.detector import MediaPipeHandDetector  # mediapipe loads only when used

        self.detector = MediaPipeHandDetector(model_path=model_path, **thresholds)
        self.fps = float(fps)
        self.video_mode = bool(video_mode)

    def config(self) -> dict[str, Any]:
        return {**self.detector.config(), "fps": self.fps, "running_mode": "VIDEO" if self.video_mode else "IMAGE"}

    def weights_digest(self) -> str:
        """The sha256 of the ``.task`` bundle (palm detector and landmark model), not its path."""
        return self.detector.config()["model_sha256"]

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for video in videos:
            result = self.detector.detect_video(video, self.fps) if self.video_mode else self.detector.detect_images(video)
            out.append(result.keypoints.astype(np.float32))
        return out
