"""CLIP_GT, CLIP_Cs and CLIP_Tx: cosine similarities of CLIP ViT-L/14 embeddings.

* CLIP_GT (``clip-gt``): mean over frames of cos(generated frame t, GT frame t).
* CLIP_Cs (``clip-cs``): mean over the L − 1 pairs of cos(generated t, generated t+1).
* CLIP_Tx (``clip-tx``): mean over frames of 100 · cos(prompt, generated frame t),
  torchmetrics' ``CLIPScore`` per image before its clamp at 0.

The embeddings come from the ``clip`` extractor (``item.features["clip"]``,
``item.target_features["clip"]``, ``[T, D]``) and, for the prompt, from the ``clip-text``
extractor (``item.features["clip-text"]``, ``[D]``: the runner embeds ``item.prompt``
with a text extractor's ``extract_text``). The formulas are the functions below; the
metric classes only pick the features.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metrics.base import MetricUndefined, SampleMetric, ScoredItem

CLIP_SCORE_SCALE = 100.0  # CLIPScore's w (Hessel et al. 2021 use 2.5 on a clamped cosine; torchmetrics 100)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _check_frames(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name}: want per-frame embeddings [T, D] with T >= 1, got shape {list(x.shape)}")
    return x


def frame_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity.

    Args:
        a: float ``[T, D]`` embeddings (any norm, non-zero rows).
        b: float ``[T, D]`` embeddings, or ``[D]`` (broadcast to every row).

    Returns:
        float64 ``[T]`` in [-1, 1].
    """
    return np.sum(_unit(a) * _unit(b), axis=-1)


def clip_gt_score(generated: np.ndarray, target: np.ndarray) -> float:
    """CLIP_GT: mean over frames of cos(generated_t, target_t).

    Args:
        generated: float ``[T, D]`` per-frame CLIP embeddings of the generated clip.
        target: float ``[T, D]`` per-frame CLIP embeddings of the ground truth.

    Returns:
        The mean cosine, in [-1, 1]; 1 for identical clips.
    """
    generated, target = _check_frames("generated", generated), _check_frames("target", target)
    if generated.shape != target.shape:
        raise ValueError(f"generated and target embeddings differ in shape: {list(generated.shape)} vs {list(target.shape)}")
    return float(frame_cosines(generated, target).mean())


def clip_consistency_score(generated: np.ndarray) -> float:
    """CLIP_Cs: mean of cos(generated_t, generated_t+1) over the T − 1 consecutive pairs.

    Args:
        generated: float ``[T, D]`` per-frame CLIP embeddings, T >= 2.

    Returns:
        The mean cosine, in [-1, 1]; 1 for a static clip.

    Raises:
        MetricUndefined: If the clip has fewer than two frames.
    """
    generated = _check_frames("generated", generated)
    if len(generated) < 2:
        raise MetricUndefined(f"CLIP_Cs needs at least two frames, got {len(generated)}")
    return float(frame_cosines(generated[:-1], generated[1:]).mean())


def clip_text_score(generated: np.ndarray, text: np.ndarray, scale: float = CLIP_SCORE_SCALE) -> float:
    """CLIP_Tx: mean over frames of ``scale`` · cos(text, generated_t), not clamped.

    Args:
        generated: float ``[T, D]`` per-frame CLIP image embeddings.
        text: float ``[D]`` (or ``[1, D]``) CLIP text embedding of the prompt.
        scale: Multiplier (100, as torchmetrics' ``CLIPScore``).

    Returns:
        The score, in [-scale, scale].
    """
    generated = _check_frames("generated", generated)
    text = np.asarray(text).reshape(-1)
    if text.shape[0] != generated.shape[1]:
        raise ValueError(f"text embedding has {text.shape[0]} dims, frame embeddings {generated.shape[1]}")
    return float(scale * frame_cosines(generated, text).mean())


class CLIPGroundTruthScore(SampleMetric):
    """CLIP_GT: frame-wise CLIP similarity of the generated clip to the ground truth (higher is better)."""

    name: ClassVar[str] = "clip-gt"
    higher_is_better: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("clip",)

    def score(self, item: ScoredItem) -> float:
        return clip_gt_score(item.features["clip"], item.target_features["clip"])

    def config(self) -> dict:
        return {"features": "clip", "formula": "mean_t cos(E(gen_t), E(gt_t))"}


class CLIPConsistencyScore(SampleMetric):
    """CLIP_Cs: CLIP similarity of consecutive generated frames (higher is smoother)."""

    name: ClassVar[str] = "clip-cs"
    higher_is_better: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("clip",)
    generated_only: ClassVar[tuple[str, ...]] = ("clip",)

    def score(self, item: ScoredItem) -> float:
        return clip_consistency_score(item.features["clip"])

    def config(self) -> dict:
        return {"features": "clip", "formula": "mean_t cos(E(gen_t), E(gen_t+1)), t < L-1"}


class CLIPTextScore(SampleMetric):
    """CLIP_Tx: 100 × CLIP similarity of the prompt to each generated frame (higher is better).

    Args:
        scale: Multiplier of the cosine (torchmetrics' 100).
    """

    name: ClassVar[str] = "clip-tx"
    higher_is_better: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("clip", "clip-text")
    generated_only: ClassVar[tuple[str, ...]] = ("clip",)

    def __init__(self, scale: float = CLIP_SCORE_SCALE):
        self.scale = float(scale)

    def score(self, item: ScoredItem) -> float:
        return clip_text_score(item.features["clip"], item.features["clip-text"], self.scale)

    def config(self) -> dict:
        return {
            "features": ["clip", "clip-text"],
            "formula": "scale * mean_t cos(E_text(prompt), E(gen_t)), no clamp",
            "scale": self.scale,
            "text": "item.prompt",
        }
