"""The feature-extractor registry: the one list of backbones, resolved lazily."""

from __future__ import annotations

from handi.registry import Registry
from metrics.features.base import FeatureExtractor

FEATURES: Registry[type[FeatureExtractor]] = Registry("feature extractor", base=FeatureExtractor)

FEATURES.register("hand-keypoints", "metrics.features.hand_keypoints:HandKeypointsExtractor")
