"""Where and in what precision backbones run.

On a GPU the similarity backbones (CLIP, BLIP, EgoVLP) run under bf16 autocast, which
halves memory and time with no visible effect on cosine similarities. The Fréchet
backbones (Inception, I3D) stay in float32: FID/FVD must match their reference
implementations, which run in float32. ``HCVG_PRECISION=fp32`` turns bf16 off.
"""

from __future__ import annotations

import contextlib
import os

import torch


def autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (unless ``HCVG_PRECISION=fp32``); a no-op on the CPU."""
    device = torch.device(device)
    if device.type == "cuda" and os.environ.get("HCVG_PRECISION", "bf16") != "fp32":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision_name(device: torch.device | str) -> str:
    """What `autocast` uses on ``device``, for the run config."""
    device = torch.device(device)
    return "bf16-autocast" if device.type == "cuda" and os.environ.get("HCVG_PRECISION", "bf16") != "fp32" else "fp32"


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
