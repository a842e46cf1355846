"""HANDI's pixel-space losses: the soft mIoU of stage 1 (paper Eq. 6).

The Hand Refinement Loss of stage 2 (Eq. 2) is `handi.hand_refinement_loss`.
"""

from __future__ import annotations

import torch

_EPS = 1e-6


def soft_miou_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``L_mIoU = 1 − 1/L Σ_l IoU(M_l^gen, M_l^train)`` with soft masks (paper Eq. 6).

    The products and sums of Eq. 6 are taken on soft masks in [0, 1], so the loss is
    differentiable; on binary masks it is exactly one minus the mean IoU. A frame whose
    two masks are both empty counts as a perfect match (IoU 1).

    Args:
        generated: float ``[B, L, H, W]`` in [0, 1], the decoded stage-1 masks.
        target: float ``[B, L, H, W]`` in [0, 1], the training masks ``M_l``.

    Returns:
        Scalar tensor, averaged over batch and frames.
    """
    if generated.shape != target.shape:
        raise ValueError(f"mask shapes differ: generated {tuple(generated.shape)}, target {tuple(target.shape)}")
    intersection = (generated * target).sum(dim=(-2, -1))
    union = (generated + target - generated * target).sum(dim=(-2, -1))
    iou = torch.where(union > _EPS, intersection / union.clamp(min=_EPS), torch.ones_like(union))
    return 1 - iou.mean()


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hard IoU of two boolean masks ``[..., H, W]`` (1 where both are empty)."""
    a, b = a.bool(), b.bool()
    inter = (a & b).sum(dim=(-2, -1)).float()
    union = (a | b).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
