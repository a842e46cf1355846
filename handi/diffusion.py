"""Latent-video helpers shared by HANDI's training and sampling (paper §3, Eq. 1 and 4).

Layout conventions: pixel videos are float ``[B, T, 3, H, W]`` in [-1, 1] (the VAE's
range); latent videos are ``[B, C, T, h, w]`` (diffusers' 3D-UNet layout), already
multiplied by the VAE's scaling factor.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

# Eq. 4 divides by sqrt(alpha_bar_t); at the last steps of a zero-terminal-SNR schedule
# that is ~0, so x0 estimates are taken with alpha_bar clamped from below.
_MIN_ALPHA_BAR = 1e-4


def latent_scale(vae: Any) -> float:
    """The VAE's latent scaling factor (0.18215 for SD-1.5's VAE)."""
    return float(getattr(vae.config, "scaling_factor", 0.18215))


def encode_frames(vae: Any, frames: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Encode a pixel video frame by frame.

    Args:
        vae: An `AutoencoderKL`.
        frames: float ``[B, T, 3, H, W]`` in [-1, 1].
        sample: Draw from the posterior instead of taking its mode (the released code
            takes the mode).
        generator: For ``sample=True``.

    Returns:
        float ``[B, 4, T, H/8, W/8]``, scaled.
    """
    b, t = frames.shape[:2]
    posterior = vae.encode(frames.flatten(0, 1).to(vae.dtype)).latent_dist
    latents = posterior.sample(generator) if sample else posterior.mode()
    latents = latents * latent_scale(vae)
    return latents.unflatten(0, (b, t)).permute(0, 2, 1, 3, 4)


def decode_latents(vae: Any, latents: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Decode a latent video frame by frame (differentiable).

    Args:
        vae: An `AutoencoderKL`.
        latents: float ``[B, 4, T, h, w]``, scaled.
        chunk: Frames decoded at once (memory); None = all.

    Returns:
        float ``[B, T, 3, H, W]``, nominally in [-1, 1] (not clamped, so gradients pass).
    """
    b, _, t = latents.shape[:3]
    flat = (latents.permute(0, 2, 1, 3, 4).flatten(0, 1) / latent_scale(vae)).to(vae.dtype)
    step = chunk or flat.shape[0]
    frames = torch.cat([vae.decode(flat[i : i + step]).sample for i in range(0, flat.shape[0], step)])
    return frames.unflatten(0, (b, t))


def predicted_original(scheduler: Any, noisy: torch.Tensor, model_output: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The clean latent ``z'_0`` implied by the model's prediction (paper Eq. 4).

    Handles epsilon and v prediction (the scheduler's ``prediction_type``).

    Args:
        scheduler: A diffusers DDPM-style scheduler with ``alphas_cumprod``.
        noisy: ``z_t``, ``[B, C, T, h, w]``.
        model_output: The UNet's output, same shape.
        timesteps: int ``[B]``.
    """
    alpha_bar = scheduler.alphas_cumprod.to(noisy.device)[timesteps].clamp(min=_MIN_ALPHA_BAR)
    alpha_bar = alpha_bar.view(-1, *([1] * (noisy.ndim - 1))).to(noisy.dtype)
    prediction = scheduler.config.prediction_type
    if prediction == "epsilon":
        return (noisy - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()
    if prediction == "v_prediction":
        return alpha_bar.sqrt() * noisy - (1 - alpha_bar).sqrt() * model_output
    if prediction == "sample":
        return model_output
    raise ValueError(f"unsupported prediction_type {prediction!r}")


def noise_target(scheduler: Any, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """What the UNet regresses (Eq. 3's ε, or the velocity for v-prediction checkpoints)."""
    prediction = scheduler.config.prediction_type
    if prediction == "epsilon":
        return noise
    if prediction == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    raise ValueError(f"unsupported prediction_type {prediction!r} for training")


def latent_motion_score(latents: torch.Tensor) -> torch.Tensor:
    """AnimateAnything's motion strength of a latent video: 10 × Σ_c mean |z_{t+1} − z_t|.

    Training conditions the UNet on the target's own score; at inference the user
    sets it (the released inference uses 3).

    Args:
        latents: ``[B, C, T, h, w]``.

    Returns:
        float ``[B]``.
    """
    diff = (latents[:, :, 1:] - latents[:, :, :-1]).abs()
    return diff.mean(dim=(2, 3, 4)).sum(dim=1) * 10


def mask_to_latent(mask: torch.Tensor, size: tuple[int, int], threshold: float | None = 0.5) -> torch.Tensor:
    """A pixel mask at latent resolution, as the UNet's mask channel ``[B, 1, 1, h, w]``.

    Args:
        mask: float ``[B, H, W]`` in [0, 1] (binary or soft).
        size: ``(h, w)`` of the latents.
        threshold: Binarize after area-resizing (the released code binarizes at 0.5);
            None keeps it soft (the prior mask of stage 1).
    """
    small = F.interpolate(mask[:, None].float(), size=size, mode="area")
    if threshold is not None:
        small = (small >= threshold).float()
    return small[:, :, None]


def frames_to_unit(frames: torch.Tensor) -> torch.Tensor:
    """Decoded frames in [-1, 1] → [0, 1], clamped (straight-through inside the range)."""
    return ((frames + 1) / 2).clamp(0, 1)
