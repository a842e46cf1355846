"""The feature-extractor registry: the one list of backbones, resolved lazily."""

from __future__ import annotations

from hcvg.registry import Registry
from metrics.features.base import FeatureExtractor

FEATURES: Registry[type[FeatureExtractor]] = Registry("feature extractor", base=FeatureExtractor)

FEATURES.register("hand-keypoints", "metrics.features.hand_keypoints:HandKeypointsExtractor")
FEATURES.register("clip", "metrics.features.clip:ClipImageExtractor")
FEATURES.register("clip-text", "metrics.features.clip:ClipTextExtractor")
FEATURES.register("egovlp", "metrics.features.egovlp:EgoVLPVideoExtractor")
FEATURES.register("egovlp-text", "metrics.features.egovlp:EgoVLPTextExtractor")
FEATURES.register("egovlp-ego4d", "metrics.features.egovlp:EgoVLPEgo4DVideoExtractor")
FEATURES.register("egovlp-ego4d-text", "metrics.features.egovlp:EgoVLPEgo4DTextExtractor")
FEATURES.register("blip-large-captions", "metrics.features.blip:BlipLargeCaptionsExtractor")
FEATURES.register("blip-base-captions", "metrics.features.blip:BlipBaseCaptionsExtractor")
FEATURES.register("inception-pool3", "metrics.features.inception:InceptionPool3Extractor")
FEATURES.register("i3d-logits", "metrics.features.i3d:I3DLogitsExtractor")
