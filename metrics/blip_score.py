"""The BLIP score (LEGO): how well BLIP's captions of the generated frames match the action.

Each generated frame is captioned by BLIP (large or base), the caption and the action
description are embedded by EgoVLP's text head, and the score is the mean over frames
of their cosine (LEGO's ``compute_text_similarity``, per frame). The captions' embeddings
come from the ``blip-large-captions`` / ``blip-base-captions`` extractor
(``item.features[...]``, ``[T, 256]``); the description's from ``egovlp-text``
(``item.features["egovlp-text"]``, ``[256]``: the runner embeds ``item.prompt``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metrics.base import SampleMetric, ScoredItem


def caption_text_score(captions: np.ndarray, description: np.ndarray) -> float:
    """Mean over frames of cos(caption_t, description), as torch's ``cosine_similarity``.

    Args:
        captions: float ``[T, D]`` text embeddings of the T frame captions.
        description: float ``[D]`` (or ``[1, D]``) text embedding of the action description.

    Returns:
        The mean cosine, in [-1, 1].
    """
    captions = np.asarray(captions, dtype=np.float64)
    description = np.asarray(description, dtype=np.float64).reshape(-1)
    if captions.ndim != 2 or len(captions) == 0 or captions.shape[1] != description.shape[0]:
        raise ValueError(f"want captions [T, D] and a description [D], got {list(captions.shape)} and {list(description.shape)}")
    eps = 1e-8  # torch.nn.functional.cosine_similarity's default
    norms = np.maximum(np.linalg.norm(captions, axis=1), eps) * max(np.linalg.norm(description), eps)
    return float((captions @ description / norms).mean())


class BlipLargeScore(SampleMetric):
    """BLIP score with the large captioner (paper's main BLIP column; higher is better)."""

    name: ClassVar[str] = "blip-large"
    higher_is_better: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("blip-large-captions", "egovlp-text")
    generated_only: ClassVar[tuple[str, ...]] = ("blip-large-captions",)

    def score(self, item: ScoredItem) -> float:
        captions, description = self.features
        return caption_text_score(item.features[captions], item.features[description])

    def config(self) -> dict:
        return {
            "features": list(self.features),
            "formula": "mean_t cos(E_text(caption(gen_t)), E_text(prompt))",
            "text": "item.prompt",
        }


class BlipBaseScore(BlipLargeScore):
    """BLIP score with the base captioner (paper's supplementary BLIP_base)."""

    name: ClassVar[str] = "blip-base"
    features: ClassVar[tuple[str, ...]] = ("blip-base-captions", "egovlp-text")
    generated_only: ClassVar[tuple[str, ...]] = ("blip-base-captions",)
