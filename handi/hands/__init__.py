"""Hand pose: the 2-hand x 21-joint keypoints used by HANDI and by HS-Err.

Importing this package is cheap: MediaPipe is imported only when a detector is built.
The hand-landmarker model file is declared in :mod:`handi.hands.landmarker_asset`.
"""

from handi.hands.detector import HandDetector, HandKeypoints, MediaPipeHandDetector
from handi.hands.landmarker_asset import HAND_LANDMARKER

__all__ = ["HAND_LANDMARKER", "HandDetector", "HandKeypoints", "MediaPipeHandDetector"]
