"""The EgoVLP score: cosine of the generated and ground-truth clips' EgoVLP embeddings.

Video-level visual similarity (paper §4, after LEGO): both clips are embedded by
EgoVLP's video tower (``egovlp`` extractor: ``epic_mir_plus``, for EPIC-KITCHENS;
``egovlp-ego4d``: ``egovlp.pth``, for Ego4D), and the score is the cosine of the two
256-d embeddings, as EgoVLP's ``sim_matrix``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metrics.base import SampleMetric, ScoredItem

_EPS = 1e-8  # EgoVLP's sim_matrix guards the norms with this


def embedding_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings, as EgoVLP's ``sim_matrix`` (norms floored at 1e-8).

    Args:
        a: float ``[D]`` embedding.
        b: float ``[D]`` embedding.

    Returns:
        The cosine, in [-1, 1].
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"embeddings differ in size: {a.shape[0]} vs {b.shape[0]}")
    return float(a @ b / (max(np.linalg.norm(a), _EPS) * max(np.linalg.norm(b), _EPS)))


class EgoVLPScore(SampleMetric):
    """EgoVLP similarity of the generated clip to the ground truth, ``epic_mir_plus`` (higher is better)."""

    name: ClassVar[str] = "egovlp"
    higher_is_better: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("egovlp",)

    def score(self, item: ScoredItem) -> float:
        feature = self.features[0]
        return embedding_cosine(item.features[feature], item.target_features[feature])

    def config(self) -> dict:
        return {"features": self.features[0], "formula": "cos(E_video(gen), E_video(gt))"}


class EgoVLPEgo4DScore(EgoVLPScore):
    """EgoVLP similarity with the Ego4D-pretrained ``egovlp.pth`` (4 frames), for Ego4D."""

    name: ClassVar[str] = "egovlp-ego4d"
    features: ClassVar[tuple[str, ...]] = ("egovlp-ego4d",)
