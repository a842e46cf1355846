"""AVDC's Gaussian diffusion: cosine schedule, v-objective, DDPM or DDIM sampling, guidance.

Written from AVDC's ``GoalGaussianDiffusion`` (``flowdiffusion/goal_diffusion.py`` at
`adapters.avdc.config.UPSTREAM_COMMIT`), whose conventions differ from diffusers'
schedulers in ways that change the samples, so it is not a diffusers scheduler:

- 100 training steps; the schedule is computed in float64 and stored in float32;
- with as many sampling steps as training steps, ancestral DDPM sampling with x₀
  clipped to [-1, 1]; with fewer, DDIM (η = 0) on the times
  ``int(linspace(-1, 99, n + 1))`` in reverse, whose last step returns x₀ unclipped;
- guidance ``(1 + w)·ε_cond − w·ε_uncond`` on the noise derived from each branch's x₀,
  the unconditional branch seeing the text embedding times zero (w = 0: off, the
  authors' default);
- training: v-target, L2, min-SNR-5 weights ``min(snr, 5) / (snr + 1)``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from adapters.avdc.config import DIFFUSION, DiffusionConfig


def cosine_betas(steps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule, float64 ``[steps]``, clipped to [0, 0.999]."""
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    alphas_cumprod = torch.cos((t + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    return torch.clip(1 - alphas_cumprod[1:] / alphas_cumprod[:-1], 0, 0.999)


def _gather(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """``values[t]`` shaped ``[B, 1, ...]`` to broadcast against an ``ndim`` tensor."""
    return values.to(t.device)[t].reshape(t.shape[0], *((1,) * (ndim - 1)))


class AVDCDiffusion:
    """The schedule and the update rules (no network: the caller runs the UNet).

    Args:
        config: The diffusion's settings (default: the released models').
    """

    def __init__(self, config: DiffusionConfig = DIFFUSION):
        if config.beta_schedule != "cosine" or config.objective != "pred_v":
            raise ValueError(f"AVDCDiffusion: only the released cosine / pred_v setting is implemented; got {config.beta_schedule!r} / {config.objective!r}")
        self.config = config
        betas = cosine_betas(config.num_train_timesteps)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        snr = alphas_cumprod / (1 - alphas_cumprod)
        # float64 → float32 once, where the authors register their buffers.
        schedule = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "log_one_minus_alphas_cumprod": torch.log(1.0 - alphas_cumprod),
            "sqrt_recip_alphas_cumprod": (1.0 / alphas_cumprod).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / alphas_cumprod - 1).sqrt(),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": torch.log(posterior_variance.clamp(min=1e-20)),
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * (1.0 - betas).sqrt() / (1.0 - alphas_cumprod),
            "loss_weight": snr.clamp(max=config.min_snr_gamma) / (snr + 1),
        }
        self.schedule = {k: v.to(torch.float32) for k, v in schedule.items()}

    @property
    def num_train_timesteps(self) -> int:
        return self.config.num_train_timesteps

    def __getattr__(self, name: str) -> torch.Tensor:
        schedule = self.__dict__.get("schedule", {})
        if name in schedule:
            return schedule[name]
        raise AttributeError(name)

    # -- conversions ---------------------------------------------------------------
    def start_from_v(self, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """x₀ = sqrt(ᾱ)·x_t − sqrt(1−ᾱ)·v."""
        return _gather(self.sqrt_alphas_cumprod, t, x_t.ndim) * x_t - _gather(self.sqrt_one_minus_alphas_cumprod, t, x_t.ndim) * v

    def noise_from_start(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """ε = (x_t / sqrt(ᾱ) − x₀) / sqrt(1/ᾱ − 1)."""
        return (_gather(self.sqrt_recip_alphas_cumprod, t, x_t.ndim) * x_t - x0) / _gather(self.sqrt_recipm1_alphas_cumprod, t, x_t.ndim)

    def start_from_noise(self, x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x₀ = x_t / sqrt(ᾱ) − sqrt(1/ᾱ − 1)·ε."""
        return _gather(self.sqrt_recip_alphas_cumprod, t, x_t.ndim) * x_t - _gather(self.sqrt_recipm1_alphas_cumprod, t, x_t.ndim) * noise

    def v_target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """v = sqrt(ᾱ)·ε − sqrt(1−ᾱ)·x₀."""
        return _gather(self.sqrt_alphas_cumprod, t, x0.ndim) * noise - _gather(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim) * x0

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(ᾱ)·x₀ + sqrt(1−ᾱ)·ε."""
        return _gather(self.sqrt_alphas_cumprod, t, x0.ndim) * x0 + _gather(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim) * noise

    def predictions(self, x_t: torch.Tensor, t: torch.Tensor, v_cond: torch.Tensor, v_uncond: torch.Tensor | None = None,
                    guidance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(ε, x₀) from the UNet's v-predictions, with guidance when ``guidance > 0``.

        Args:
            x_t: float ``[B, ...]`` noisy frames.
            t: int ``[B]`` timesteps.
            v_cond: The prediction with the text.
            v_uncond: The prediction with the zeroed text (needed when ``guidance > 0``).
            guidance: w of ``(1 + w)·ε_cond − w·ε_uncond``.
        """
        x0 = self.start_from_v(x_t, t, v_cond)
        noise = self.noise_from_start(x_t, t, x0)
        if guidance > 0:
            if v_uncond is None:
                raise ValueError("AVDCDiffusion.predictions: guidance > 0 needs the unconditional prediction")
            noise_uncond = self.noise_from_start(x_t, t, self.start_from_v(x_t, t, v_uncond))
            noise = (1 + guidance) * noise - guidance * noise_uncond
            x0 = self.start_from_noise(x_t, t, noise)
        return noise, x0

    # -- sampling ------------------------------------------------------------------
    def uses_ddim(self, steps: int) -> bool:
        """DDIM when fewer steps than training steps are asked (the authors' rule)."""
        if not 1 <= steps <= self.num_train_timesteps:
            raise ValueError(f"AVDC samples with 1 to {self.num_train_timesteps} steps; got {steps}")
        return steps < self.num_train_timesteps

    def ddim_times(self, steps: int) -> list[tuple[int, int]]:
        """(t, t_next) pairs, t_next = -1 on the last: ``int(linspace(-1, T-1, steps+1))`` reversed."""
        times = torch.linspace(-1, self.num_train_timesteps - 1, steps=steps + 1).int().tolist()[::-1]
        return list(zip(times[:-1], times[1:]))

    def ddim_step(self, x0: torch.Tensor, noise: torch.Tensor, t_next: int) -> torch.Tensor:
        """x_{t_next} for η = 0 (deterministic); x₀ itself when ``t_next < 0``."""
        if t_next < 0:
            return x0
        if self.config.ddim_eta != 0:
            raise NotImplementedError("AVDCDiffusion: only η = 0 (the released setting) is implemented")
        alpha_next = self.alphas_cumprod[t_next]
        return x0 * alpha_next.sqrt() + (1 - alpha_next).sqrt() * noise

    def ddpm_step(self, x_t: torch.Tensor, t: int, x0: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """Ancestral step from x_t to x_{t-1} with x₀ clipped to [-1, 1].

        Args:
            noise: Standard normal like ``x_t``; ignored (may be None) at t = 0.
        """
        tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        x0 = x0.clamp(-1.0, 1.0)
        mean = _gather(self.posterior_mean_coef1, tt, x_t.ndim) * x0 + _gather(self.posterior_mean_coef2, tt, x_t.ndim) * x_t
        if t == 0:
            return mean
        return mean + (0.5 * _gather(self.posterior_log_variance_clipped, tt, x_t.ndim)).exp() * noise

    def sample(self, denoise: Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor], noise: torch.Tensor, steps: int,
               guidance: float, step_noise: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        """Run the sampler from pure noise to frames in [0, 1].

        Args:
            denoise: ``denoise(x_t, t, conditional) -> v``: the UNet on the batch, with the
                text (True) or with the zeroed text (False).
            noise: float ``[B, ...]`` standard normal, the start x_T.
            steps: Sampling steps (100: DDPM; fewer: DDIM).
            guidance: Guidance weight w (0: off).
            step_noise: Draws the noise of one DDPM step (needed when ``steps`` = 100).

        Returns:
            float like ``noise``, the frames mapped to [0, 1] (not clipped).
        """
        x = noise
        batch = x.shape[0]

        def predict(t: int) -> tuple[torch.Tensor, torch.Tensor]:
            tt = torch.full((batch,), t, dtype=torch.long, device=x.device)
            v_cond = denoise(x, tt, True)
            v_uncond = denoise(x, tt, False) if guidance > 0 else None
            return self.predictions(x, tt, v_cond, v_uncond, guidance)

        if self.uses_ddim(steps):
            for t, t_next in self.ddim_times(steps):
                eps, x0 = predict(t)
                x = self.ddim_step(x0, eps, t_next)
        else:
            if step_noise is None:
                raise ValueError("AVDCDiffusion.sample: DDPM sampling (100 steps) needs step_noise")
            for t in reversed(range(self.num_train_timesteps)):
                _, x0 = predict(t)
                x = self.ddpm_step(x, t, x0, step_noise() if t > 0 else None)
        return (x + 1) * 0.5

    # -- training ------------------------------------------------------------------
    def training_loss(self, v_pred: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Min-SNR-weighted L2 between the v-prediction and the v-target (a scalar).

        Args:
            v_pred: float ``[B, ...]``, the UNet's output on ``add_noise(x0, t, noise)``.
            x0: float ``[B, ...]`` clean frames in [-1, 1].
            t: int ``[B]``.
            noise: float ``[B, ...]``.
        """
        per_sample = ((v_pred.float() - self.v_target(x0, t, noise).float()) ** 2).flatten(1).mean(dim=1)
        return (per_sample * self.loss_weight.to(t.device)[t]).mean()
