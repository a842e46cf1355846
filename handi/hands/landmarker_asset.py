"""The MediaPipe hand-landmarker model bundle (``hand_landmarker.task``), declared as an asset.

The official bundle is published on Google Cloud Storage. Where that host is out of
reach but a package registry is not, `hcvg assets fetch hand-landmarker` builds it
from the TFLite models of the ``mediapipe`` 0.10.21 wheel
(`benchmark.hand_landmarker_bundle`).
"""

from __future__ import annotations

from hcvg.assets import Asset

OFFICIAL_URL = (
    "https://storage.googleapis.com/mediapipe-models/"
    "hand_landmarker/hand_landmarker/float16/latest/hand_landmarker.task"
)

#: The last mediapipe release whose wheel still ships the Solutions' TFLite models.
SOURCE_WHEEL = "mediapipe==0.10.21"

HAND_LANDMARKER = Asset(
    name="hand-landmarker",
    filename="hand_landmarker.task",
    description="MediaPipe HandLandmarker bundle (palm detector + 21-joint hand landmark model)",
    official_url=OFFICIAL_URL,
    env_var="HCVG_HAND_LANDMARKER",
    how_to_get=(
        f"offline with a package index: `hcvg assets fetch hand-landmarker` builds it from the "
        f"{SOURCE_WHEEL} wheel's palm_detection_full.tflite and hand_landmark_full.tflite"
    ),
    # No sha256: the official URL is "latest" and its content changes between releases.
)
