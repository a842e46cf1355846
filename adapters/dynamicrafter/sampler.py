"""DynamiCrafter's sampler as diffusers' `DDIMScheduler`, and its classifier-free guidance.

Upstream samples with its own DDIM (``lvdm/models/samplers/ddim.py``). The same update
is diffusers' ``DDIMScheduler`` configured as below, which the parity test checks
against upstream's ``p_sample_ddim``:

- the ``linear`` schedule of LDM (betas evenly spaced in square root between 0.00085
  and 0.012 over 1000 steps) is diffusers' ``scaled_linear``;
- ``uniform`` DDIM timesteps ``range(0, 1000, 1000 // S) + 1`` are ``leading`` spacing
  with ``steps_offset=1``;
- the last step's "previous" alpha is ``alphas_cumprod[0]`` (``set_alpha_to_one=False``);
- no clipping of the predicted x0, epsilon prediction, eta = 1.0 at the 256 model;
- the cumulative alphas computed in float64 and rounded to float32 once, as upstream
  does (diffusers multiplies 1000 float32 factors, drifting by ~1e-6, which dividing by
  sqrt(alpha) in the x0 prediction amplifies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.dynamicrafter.config import PUBLISHED_SAMPLING, SamplingDefaults

if TYPE_CHECKING:
    import torch
    from diffusers import DDIMScheduler

    from adapters.dynamicrafter.unet import DynamiCrafterUNet


def make_scheduler(defaults: SamplingDefaults = PUBLISHED_SAMPLING) -> "DDIMScheduler":
    """A ``DDIMScheduler`` doing exactly upstream's DDIM update (see the module docstring)."""
    import torch
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(
        num_train_timesteps=defaults.train_steps, beta_start=defaults.beta_start, beta_end=defaults.beta_end,
        beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
        timestep_spacing="leading", prediction_type="epsilon",
    )
    betas = torch.linspace(defaults.beta_start**0.5, defaults.beta_end**0.5, defaults.train_steps, dtype=torch.float64) ** 2
    scheduler.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).to(torch.float32)
    scheduler.final_alpha_cumprod = scheduler.alphas_cumprod[0]  # set_alpha_to_one=False
    return scheduler


def guided_noise(
    unet: "DynamiCrafterUNet",
    latents: "torch.Tensor",
    first_latent: "torch.Tensor",
    timestep: "torch.Tensor",
    context: "torch.Tensor",
    uncond_context: "torch.Tensor | None",
    frame_stride: "torch.Tensor",
    guidance: float,
) -> "torch.Tensor":
    """The guided noise prediction ``e_u + g * (e_c - e_u)`` (just ``e_c`` when ``g == 1`` or no uncond).

    Both branches see the same first-frame latent on channels; they differ only in the
    cross-attention context (upstream's ``uc`` keeps ``c_concat``). They run as one
    batch of 2B.

    Args:
        unet: The denoiser.
        latents: float ``[B, 4, T, h, w]`` noisy latents.
        first_latent: float ``[B, 4, T, h, w]``, the context frame's latent repeated over T.
        timestep: long ``[B]``.
        context: float ``[B, 77 + N, C]`` text then image tokens.
        uncond_context: The same for the empty prompt and an all-zero image, or None.
        frame_stride: long ``[B]``.
        guidance: Guidance scale.

    Returns:
        float ``[B, 4, T, h, w]``.
    """
    import torch

    model_input = torch.cat([latents, first_latent], dim=1)
    if uncond_context is None or guidance == 1.0:
        return unet(model_input, timestep, context, frame_stride).sample
    both = unet(
        torch.cat([model_input, model_input]), torch.cat([timestep, timestep]), torch.cat([context, uncond_context]),
        torch.cat([frame_stride, frame_stride]),
    ).sample
    cond, uncond = both.chunk(2)
    return uncond + guidance * (cond - uncond)
