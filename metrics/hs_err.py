"""Hand Structure Error (HS-Err), paper Eq. 2.

    HS-Err = (1/L) Σ_l (1/J) ‖P_l^gen − P_l^gt‖²_F,   J = 42 (2 hands × 21 joints),

on (x, y) normalized to [0, 1] by the frame size, over the L generated frames. The
paper's rule for joints the detector misses: "we set the coordinates of the missing
joints in either P_l as 0 ... those missing joints hence do not contribute" — a joint
missing on either side is zeroed on both sides. Under that rule a model that draws no
hands scores a perfect 0, so `hand-recall` / `hand-precision` are reported beside it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from handi.hands.detector import hand_presence
from metrics.base import MetricUndefined, SampleMetric, ScoredItem

NUM_JOINTS_TOTAL = 42  # J in Eq. 2
MissingRule = Literal["ignore", "penalize"]


def hand_structure_error(generated: np.ndarray, target: np.ndarray, missing: MissingRule = "ignore") -> float:
    """Eq. 2 for one clip.

    Args:
        generated: float ``[L, 2, 21, 2]`` keypoints of the generated frames, NaN where
            a joint was not detected.
        target: float ``[L, 2, 21, 2]`` keypoints of the ground-truth frames.
        missing: "ignore" (the paper's rule: a joint missing on either side adds 0) or
            "penalize" (a joint found in the ground truth but missing in the generated
            frame is taken as (0, 0) there, so drawing no hand costs ‖P_gt‖²).

    Returns:
        The error, >= 0.
    """
    if generated.shape != target.shape or generated.shape[1:] != (2, 21, 2):
        raise ValueError(f"keypoints must both be [L, 2, 21, 2], got {generated.shape} and {target.shape}")
    gen_ok = ~np.isnan(generated).any(axis=-1)
    gt_ok = ~np.isnan(target).any(axis=-1)
    counted = gt_ok if missing == "penalize" else gen_ok & gt_ok
    gen = np.where(gen_ok[..., None], generated, 0.0)
    gt = np.where(gt_ok[..., None], target, 0.0)
    squared = ((gen - gt) ** 2).sum(axis=-1) * counted  # [L, 2, 21]
    per_frame = squared.reshape(len(squared), -1).sum(axis=1) / NUM_JOINTS_TOTAL
    return float(per_frame.mean())


class HandStructureError(SampleMetric):
    """HS-Err (paper Eq. 2) between the hands detected in the generated and GT clips.

    Args:
        missing: "ignore" (the paper's rule, default) or "penalize".
    """

    name: ClassVar[str] = "hs-err"
    higher_is_better: ClassVar[bool] = False
    features: ClassVar[tuple[str, ...]] = ("hand-keypoints",)

    def __init__(self, missing: MissingRule = "ignore"):
        if missing not in ("ignore", "penalize"):
            raise ValueError(f"missing must be 'ignore' or 'penalize', got {missing!r}")
        self.missing = missing

    def score(self, item: ScoredItem) -> float:
        generated = item.features["hand-keypoints"]
        target = item.target_features["hand-keypoints"]
        return hand_structure_error(generated, target, self.missing)

    def config(self) -> dict:
        return {
            "equation": "paper Eq. 2: mean over L frames of (1/42)·||P_gen − P_gt||_F^2, x,y normalized to [0,1]",
            "missing_joints": self.missing,
            "frames": "the L generated frames (context excluded)",
        }


def detection_counts(generated: np.ndarray, target: np.ndarray) -> tuple[int, int, int]:
    """(hands found in both, hands in the ground truth, hands in the generated clip).

    Hands are matched by slot (the person's left or right hand) and frame.
    """
    gen, gt = hand_presence(generated), hand_presence(target)
    return int((gen & gt).sum()), int(gt.sum()), int(gen.sum())


class HandDetectionRecall(SampleMetric):
    """Fraction of the GT clip's (frame, hand) detections also found in the generated clip."""

    name: ClassVar[str] = "hand-recall"
    higher_is_better: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("hand-keypoints",)

    def score(self, item: ScoredItem) -> float:
        both, in_gt, _ = detection_counts(item.features["hand-keypoints"], item.target_features["hand-keypoints"])
        if in_gt == 0:
            raise MetricUndefined("no hand detected in the ground-truth clip")
        return both / in_gt

    def config(self) -> dict:
        return {"match": "same frame and same hand slot (left/right)", "undefined": "no GT hand in any frame"}


class HandDetectionPrecision(SampleMetric):
    """Fraction of the generated clip's (frame, hand) detections that the GT clip also has."""

    name: ClassVar[str] = "hand-precision"
    higher_is_better: ClassVar[bool] = True
    features: ClassVar[tuple[str, ...]] = ("hand-keypoints",)

    def score(self, item: ScoredItem) -> float:
        both, _, in_gen = detection_counts(item.features["hand-keypoints"], item.target_features["hand-keypoints"])
        if in_gen == 0:
            raise MetricUndefined("no hand detected in the generated clip")
        return both / in_gen

    def config(self) -> dict:
        return {"match": "same frame and same hand slot (left/right)", "undefined": "no hand in any generated frame"}
