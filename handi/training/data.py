"""Benchmark samples → training tensors at the model's native size.

Each example holds what both stages read (paper §3): the 16-frame clip (context + L
targets), the per-frame motion-area masks ``M_l`` (stage 1's targets, from the hand
keypoints), the clip's mask ``M_video`` (stage 2's condition, post-processed as at
inference) and the normalized keypoints (the Hand Refinement Loss's targets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from handi.motion_area import frame_masks, postprocess_mask, scaled_kernel_size


@dataclass
class TrainingExample:
    """One clip at the native size.

    Attributes:
        sample_id: Benchmark sample id.
        prompt: Action text (expanded, if the split carries an expansion).
        frames: float ``[L+1, 3, H, W]`` in [-1, 1]; frame 0 is the context.
        frame_masks: float ``[L, H, W]`` in {0, 1}: ``M_l`` for frames 1..L.
        video_mask: float ``[H, W]`` in {0, 1}: ``M_video`` after morphology.
        keypoints: float ``[L, 2, 21, 2]`` normalized (x, y) for frames 1..L; NaN where missing.
    """

    sample_id: str
    prompt: str
    frames: torch.Tensor
    frame_masks: torch.Tensor
    video_mask: torch.Tensor
    keypoints: torch.Tensor


def example_from_sample(sample: Any, size: tuple[int, int], kernel_size: int = 15) -> TrainingExample:
    """Convert a `hcvg.sample.Sample` (with keypoints) into a `TrainingExample`.

    Raises:
        ValueError: Naming the sample, if it has no hand keypoints (run ``hcvg masks
            build`` for the split and pass ``hands=DIR``).
    """
    if sample.keypoints is None:
        raise ValueError(
            f"sample {sample.id!r} has no hand keypoints; build them with `hcvg masks build --split ...` and pass hands=DIR"
        )
    clip = np.concatenate([sample.context[None], sample.target])  # [L+1, H, W, 3]
    frames = torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 127.5 - 1
    if tuple(frames.shape[-2:]) != tuple(size):
        frames = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)
    keypoints = np.asarray(sample.keypoints, dtype=np.float32)
    masks = frame_masks(keypoints, size).astype(np.float32)  # [L+1, H, W]
    kernel = scaled_kernel_size(size[0], kernel_size)
    video_mask = postprocess_mask(masks.max(axis=0), kernel_size=kernel).astype(np.float32)
    prompt = sample.expanded_prompt or sample.prompt
    return TrainingExample(
        sample_id=sample.id,
        prompt=prompt,
        frames=frames.clamp(-1, 1),
        frame_masks=torch.from_numpy(masks[1:]),
        video_mask=torch.from_numpy(video_mask),
        keypoints=torch.from_numpy(keypoints[1:]),
    )


def examples_from_samples(samples: Iterable[Any], size: tuple[int, int]) -> list[TrainingExample]:
    return [example_from_sample(s, size) for s in samples]


def collate(examples: list[TrainingExample]) -> dict[str, Any]:
    """Stack examples into a batch dict (tensors gain a leading batch dim)."""
    return {
        "sample_id": [e.sample_id for e in examples],
        "prompt": [e.prompt for e in examples],
        "frames": torch.stack([e.frames for e in examples]),
        "frame_masks": torch.stack([e.frame_masks for e in examples]),
        "video_mask": torch.stack([e.video_mask for e in examples]),
        "keypoints": torch.stack([e.keypoints for e in examples]),
    }
