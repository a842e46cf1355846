"""LFDM's Gaussian diffusion over flow + occlusion videos: schedule, training loss, samplers.

The math of ``GaussianDiffusion`` in upstream ``DM/modules/video_flow_diffusion.py``,
kept apart from the networks:

- a cosine ε-prediction schedule of 1000 steps (Nichol & Dhariwal, s = 0.008), computed
  in float64 and stored in float32;
- predictions of x0 clipped by **dynamic thresholding** (Imagen): each sample is divided
  by max(1, its 0.9-quantile of |x0|) after clamping to that value;
- the **ancestral sampler** (the demos' 1000 steps) and **DDIM** for fewer steps, with
  the authors' quirk kept: DDIM reads ``alphas_cumprod_prev`` at both ends of a step
  while x0 is recovered with ``alphas_cumprod`` (NOTE: upstream ``ddim_sample``);
- classifier-free guidance as ``null + (cond − null) · scale``; scale 1 runs one pass.

Not a diffusers scheduler: none implements the dynamic threshold in this form together
with that DDIM indexing, and parity with the released models needs both.
"""

from __future__ import annotations

from typing import Callable

import torch

from adapters.lfdm.config import DiffusionConfig

#: ``denoise(x_t [B,3,F,h,w], t [B], drop_text: bool) -> predicted noise``.
Denoiser = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]


def cosine_betas(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """float64 ``[timesteps]`` betas of the cosine schedule, clipped to [0, 0.9999]."""
    x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * torch.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    return torch.clip(1 - alphas_cumprod[1:] / alphas_cumprod[:-1], 0, 0.9999)


class NoiseSchedule:
    """The schedule's per-step constants, float32 ``[T]`` each (computed in float64).

    Attributes mirror the checkpoint's buffers (``betas``, ``alphas_cumprod``,
    ``alphas_cumprod_prev``, ...); `as_buffers` gives them by those names so the
    converter can check a checkpoint's copies.
    """

    NAMES = (
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
        "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
    )

    def __init__(self, timesteps: int = 1000):
        betas = cosine_betas(timesteps)
        alphas = 1.0 - betas
        ac = torch.cumprod(alphas, dim=0)
        ac_prev = torch.cat((torch.ones(1, dtype=torch.float64), ac[:-1]))
        posterior_variance = betas * (1.0 - ac_prev) / (1.0 - ac)
        values = {
            "betas": betas,
            "alphas_cumprod": ac,
            "alphas_cumprod_prev": ac_prev,
            "sqrt_alphas_cumprod": ac.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - ac).sqrt(),
            "log_one_minus_alphas_cumprod": (1.0 - ac).log(),
            "sqrt_recip_alphas_cumprod": (1.0 / ac).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / ac - 1).sqrt(),
            "posterior_variance": posterior_variance,
            # The posterior variance is 0 at t = 0: its log is clipped.
            "posterior_log_variance_clipped": posterior_variance.clamp(min=1e-20).log(),
            "posterior_mean_coef1": betas * ac_prev.sqrt() / (1.0 - ac),
            "posterior_mean_coef2": (1.0 - ac_prev) * alphas.sqrt() / (1.0 - ac),
        }
        self.timesteps = timesteps
        for name, value in values.items():
            setattr(self, name, value.to(torch.float32))

    def as_buffers(self) -> dict[str, torch.Tensor]:
        """name → float32 ``[T]``, as the released checkpoints store them."""
        return {name: getattr(self, name) for name in self.NAMES}

    def at(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``name[t]`` shaped to broadcast over ``like`` (``[B, 1, 1, 1, 1]``)."""
        values = getattr(self, name).to(like.device)[t]
        return values.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def dynamic_threshold(x0: torch.Tensor, percentile: float) -> torch.Tensor:
    """Clip each sample to ±s, s = max(1, quantile(|x0|, percentile)), then divide by s."""
    s = torch.quantile(x0.flatten(1).abs().float(), percentile, dim=-1).clamp(min=1.0).to(x0.dtype)
    s = s.reshape(-1, *([1] * (x0.ndim - 1)))
    return torch.maximum(torch.minimum(x0, s), -s) / s


def guided_noise(denoise: Denoiser, x: torch.Tensor, t: torch.Tensor, cond_scale: float) -> torch.Tensor:
    """Classifier-free guidance: ``null + (cond − null) · cond_scale`` (one pass at scale 1, null only at 0)."""
    if cond_scale == 0:
        return denoise(x, t, True)
    eps = denoise(x, t, False)
    if cond_scale == 1:
        return eps
    null = denoise(x, t, True)
    return null + (eps - null) * cond_scale


def predict_x0(schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x0 from x_t and the predicted noise."""
    return schedule.at("sqrt_recip_alphas_cumprod", t, x_t) * x_t - schedule.at("sqrt_recipm1_alphas_cumprod", t, x_t) * eps


def ancestral_step(
    schedule: NoiseSchedule, config: DiffusionConfig, denoise: Denoiser, x: torch.Tensor, t: int, cond_scale: float, noise: torch.Tensor
) -> torch.Tensor:
    """One step x_t → x_{t−1} of the ancestral (DDPM) sampler.

    Args:
        schedule: The noise schedule.
        config: Reads ``dynamic_threshold_percentile``.
        denoise: The (text-bound) denoiser.
        x: float ``[B, 3, F, h, w]`` x_t.
        t: The step, in [0, T).
        cond_scale: Guidance scale.
        noise: float like ``x``: the standard-normal draw of this step (unused at t = 0).

    Returns:
        float like ``x``: x_{t−1}.
    """
    steps = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    x0 = dynamic_threshold(predict_x0(schedule, x, steps, guided_noise(denoise, x, steps, cond_scale)), config.dynamic_threshold_percentile)
    mean = schedule.at("posterior_mean_coef1", steps, x) * x0 + schedule.at("posterior_mean_coef2", steps, x) * x
    if t == 0:
        return mean
    return mean + (0.5 * schedule.at("posterior_log_variance_clipped", steps, x)).exp() * noise


def ddim_times(timesteps: int, steps: int) -> list[tuple[int, int]]:
    """The (t, t_next) pairs of a ``steps``-step DDIM run, as upstream spaces them."""
    times = torch.linspace(0.0, timesteps, steps=steps + 2)[:-1].int().tolist()
    times = list(reversed(times))
    return list(zip(times[:-1], times[1:]))


def ddim_step(
    schedule: NoiseSchedule, config: DiffusionConfig, denoise: Denoiser, x: torch.Tensor, t: int, t_next: int,
    cond_scale: float, noise: torch.Tensor,
) -> torch.Tensor:
    """One DDIM step t → t_next with eta = ``config.ddim_eta`` (noise unused when t_next = 0)."""
    # NOTE: both ends index alphas_cumprod_prev, as upstream ddim_sample does.
    alpha = schedule.alphas_cumprod_prev[t].to(x.device, x.dtype)
    alpha_next = schedule.alphas_cumprod_prev[t_next].to(x.device, x.dtype)
    steps = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    eps = guided_noise(denoise, x, steps, cond_scale)
    x0 = dynamic_threshold(predict_x0(schedule, x, steps, eps), config.dynamic_threshold_percentile)
    sigma = config.ddim_eta * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
    c = ((1 - alpha_next) - sigma**2).sqrt()
    out = x0 * alpha_next.sqrt() + c * eps
    return out + sigma * noise if t_next > 0 else out


def sample(
    schedule: NoiseSchedule,
    config: DiffusionConfig,
    denoise: Denoiser,
    shape: tuple[int, ...],
    steps: int,
    cond_scale: float,
    generators: list[torch.Generator],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Sample flow + occlusion videos: ancestral with ``steps == T``, DDIM with fewer.

    Args:
        schedule: The noise schedule.
        config: Diffusion settings.
        denoise: The denoiser, bound to its image features and text.
        shape: ``(B, 3, F, h, w)``.
        steps: Sampling steps (1..T).
        cond_scale: Guidance scale (1: none).
        generators: One CPU generator per batch element: its initial noise, then each
            step's noise, are drawn from it in that order (the stream upstream draws
            from the global generator for a batch of one).
        device: Where the denoiser runs.
        dtype: The denoiser's dtype.
        progress: Called with (step done, total).

    Returns:
        float32 ``[B, 3, F, h, w]`` x0: flow in channels 0-1, occlusion · 2 − 1 in 2.

    Raises:
        ValueError: If ``steps`` is not in [1, T] or the generators do not match B.
    """
    if not 1 <= steps <= schedule.timesteps:
        raise ValueError(f"LFDM sampling: steps must be in [1, {schedule.timesteps}]; got {steps}")
    if len(generators) != shape[0]:
        raise ValueError(f"LFDM sampling: {len(generators)} generators for a batch of {shape[0]}")

    def draw() -> torch.Tensor:
        return torch.stack([torch.randn(shape[1:], generator=g) for g in generators]).to(device=device, dtype=dtype)

    x = draw()
    if steps == schedule.timesteps:
        pairs = [(t, t - 1) for t in reversed(range(schedule.timesteps))]
    else:
        pairs = ddim_times(schedule.timesteps, steps)
    with torch.no_grad():
        for i, (t, t_next) in enumerate(pairs):
            # Noise is drawn even where unused (last step), to keep every step's stream fixed.
            noise = draw()
            if steps == schedule.timesteps:
                x = ancestral_step(schedule, config, denoise, x, t, cond_scale, noise)
            else:
                x = ddim_step(schedule, config, denoise, x, t, t_next, cond_scale, noise)
            if progress is not None:
                progress(i + 1, len(pairs))
    return x.float()


def training_loss(
    schedule: NoiseSchedule,
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The ε-prediction MSE at uniformly drawn steps (upstream ``p_losses`` with ``loss_type='l2'``).

    Args:
        schedule: The noise schedule.
        denoise: ``(x_t, t) -> predicted noise`` (text dropout is the caller's).
        x0: float ``[B, 3, F, h, w]`` clean flow + (occlusion · 2 − 1).
        generator: Draws the steps and the noise (on the CPU).

    Returns:
        Scalar float loss.
    """
    b = x0.shape[0]
    t = torch.randint(0, schedule.timesteps, (b,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    x_t = schedule.at("sqrt_alphas_cumprod", t, x0) * x0 + schedule.at("sqrt_one_minus_alphas_cumprod", t, x0) * noise
    return torch.nn.functional.mse_loss(denoise(x_t, t), noise)
