"""Where, in what precision and in what state the frozen backbones run.

On a GPU the similarity backbones (CLIP, BLIP, EgoVLP) run under bf16 autocast, which
halves memory and time with no visible effect on cosine similarities. The Fréchet
backbones (Inception, I3D) stay in float32: FID/FVD must match their reference
implementations, which run in float32. ``HCVG_PRECISION=fp32`` turns bf16 off.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable

import torch

from hcvg.assets import resolve_asset
from metrics.features.digests import module_digest, tokenizer_digest


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


def numerics(device: torch.device | str, uses_autocast: bool) -> dict[str, Any]:
    """The arithmetic a backbone runs in on ``device``, for its config and fingerprint.

    Names what moves the numbers (bf16 autocast, TF32 convolutions or matmuls on CUDA)
    and not the device itself (see `FeatureExtractor.fingerprint`).

    Args:
        device: Where the backbone runs.
        uses_autocast: The backbone runs under `autocast` (CLIP, BLIP, EgoVLP); the
            Fréchet backbones do not.

    Returns:
        ``{"precision": "bf16-autocast" | "fp32", "tf32_conv": bool, "tf32_matmul": bool}``.
    """
    cuda = torch.device(device).type == "cuda"
    return {
        "precision": precision_name(device) if uses_autocast else "fp32",
        # PyTorch's flags, read when the config is taken; they apply on CUDA only.
        "tf32_conv": bool(cuda and torch.backends.cudnn.allow_tf32),
        "tf32_matmul": bool(cuda and torch.backends.cuda.matmul.allow_tf32),
    }


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def freeze(module: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """Evaluation mode, no gradients, on ``device``: how every metric backbone runs."""
    return module.eval().requires_grad_(False).to(torch.device(device))


def official_or_given(
    network: Any, weights: str | None, asset: str, path: str | Path | None, load: Callable[[Path], Any]
) -> tuple[Any, str]:
    """The given network, or the official one loaded from ``asset``'s file.

    Args:
        network: A ready network (random weights in tests), or None to load the official one.
        weights: Label of a given network, recorded in the run config.
        asset: Asset name of the official weights file.
        path: Explicit weights file (else resolved: env var → asset cache → hub cache).
        load: Builds the network from the resolved file.

    Returns:
        (network, label of its weights).

    Raises:
        AssetNotFoundError: If the file is nowhere; the message says how to get it.
    """
    if network is not None:
        return network, weights or "given network"
    resolved = resolve_asset(asset, path)
    return load(resolved), f"{asset} ({resolved.name})"


class FrozenModel:
    """A frozen model with its tokenizer on one device (CLIP, BLIP and EgoVLP holders).

    Args:
        model: The model; put in eval mode, without gradients, on ``device``.
        tokenizer: Its tokenizer.
        weights: Where the weights came from, for the run config.
        device: Torch device.
    """

    def __init__(self, model: Any, tokenizer: Any, weights: str, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.model = freeze(model, self.device)
        self.tokenizer = tokenizer
        self.weights = weights
        self._weights_digest: str | None = None

    def weights_digest(self) -> str:
        """Digest of the model's architecture and weights and of the tokenizer; computed once.

        Kept on the holder, which the image and text extractors of one backbone share, so
        a large model is hashed once per process.
        """
        if self._weights_digest is None:
            self._weights_digest = f"{module_digest(self.model)}+{tokenizer_digest(self.tokenizer)}"
        return self._weights_digest
