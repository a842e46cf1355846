"""The feature-extractor contract shared by every backbone.

A backbone (Inception, I3D, CLIP, BLIP, EgoVLP, the hand landmarker) runs once per clip
and scope, however many metrics read its output; its features are cached in the run
store (ground truth once per split, reused for every adapter). Metrics name the
extractors they read in ``Metric.features`` and find the arrays in
``ScoredItem.features`` / ``ScoredItem.target_features``.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Literal

import numpy as np


class FeatureExtractor(abc.ABC):
    """A frozen backbone that maps clips (or texts) to arrays.

    Class attributes:
        name: Registered name, also the cache key (e.g. "inception-pool3").
        kind: "video" (clip → array) or "text" (string → vector).

    Subclasses provide ``from_pretrained(path=None, device=...)``, loading official
    weights through `hcvg.assets.resolve_asset` (explicit path → env var → asset cache →
    hub cache; a clear error naming the file otherwise), and ``from_config(config)``,
    which builds the same architecture from a (tiny) config with random weights for tests.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[Literal["video", "text"]] = "video"

    @classmethod
    def for_tests(cls) -> "FeatureExtractor":
        """A small instance for tests, never downloading (tiny config, random weights).

        The default builds the extractor with its default arguments; backbones whose
        default loads pretrained weights override this.
        """
        return cls()

    def config(self) -> dict[str, Any]:
        """Weights, preprocessing and every choice that moves numbers (for the run config)."""
        return {}

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        """Features of a batch of clips.

        Args:
            videos: uint8 ``[T, H, W, 3]`` RGB clips in [0, 255].

        Returns:
            One float32 array per clip, e.g. ``[T, D]`` for per-frame features or
            ``[D]`` for a clip embedding.
        """
        raise NotImplementedError(f"{self.name} does not embed videos")

    def extract_text(self, texts: list[str]) -> np.ndarray:
        """Embeddings of a batch of texts, float32 ``[N, D]``."""
        raise NotImplementedError(f"{self.name} does not embed text")
