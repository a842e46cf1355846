"""HANDI's differentiable hand judge: MediaPipe's hand-landmark network in PyTorch.

* `handi.landmark.tflite_weights` reads ``hand_landmark_full.tflite`` (op list, float32 weights);
* `handi.landmark.network` builds :class:`~handi.landmark.network.HandLandmarkNet` from it;
* `handi.landmark.crop` cuts MediaPipe's rotated hand ROI out of frames with
  ``grid_sample`` and maps crop landmarks back to the frame, both differentiably.

This package imports nothing on import (torch is imported by the submodules), so
``import handi.landmark`` stays cheap; import the submodule you need.
"""
