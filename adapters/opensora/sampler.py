"""Open-Sora 1.2's rectified-flow sampler with its timestep shift, guidance and frame masks.

Rectified flow moves a latent from noise (t = 1000) to data (t = 0) along the predicted
velocity: ``z ← z + v · (t_i − t_{i+1}) / 1000``. The 30 uniform timesteps are shifted
toward the noise end for larger videos (`shift_timesteps`), and the velocity is
classifier-free guided: ``v = v_uncond + g · (v_cond − v_uncond)``, the unconditional
branch reading the model's learned null caption.

Image-to-video uses a per-latent-frame mask (upstream's "mask strategy"): a frame with
value 0 is a given reference latent, kept as it is and seen by the model as clean
(timestep 0); 1 is generated from noise; a value m in between starts from the reference
and is re-noised once the schedule passes ``t = m · 1000``. ``diffusers`` has no
scheduler with these masks, hence this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from adapters.opensora import config

#: ``model(z, t, cond) -> velocity``: z ``[2B, C, T, H, W]`` (conditional rows first), t
#: ``[2B]``, the bool frame mask ``[2B, T]`` or None; returns ``[2B, C, T, H, W]``.
Denoiser = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def shift_timesteps(
    timesteps: torch.Tensor, height: float, width: float, num_frames: int, num_timesteps: int = config.NUM_TIMESTEPS,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Move timesteps toward the noise end by the video's size (upstream ``timestep_transform``).

    ``t' = r·t / (1 + (r − 1)·t)`` on t in [0, 1], with ``r = √(H·W / 512²) · √(F)``,
    where F counts latent frames the way upstream does: ``num_frames // 17 · 5`` (1 for
    an image).

    Args:
        timesteps: float ``[N]`` in [0, num_timesteps].
        height, width: Pixel size of the video.
        num_frames: Pixel frames of the video.
        num_timesteps: The flow's time scale (1000).
        dtype: Dtype ``r`` is computed in: upstream computes it from the model-argument
            tensors, in the inference dtype (bfloat16 rounds √15 to 3.875).

    Returns:
        float32 ``[N]``.
    """
    resolution = torch.tensor(height, dtype=dtype) * torch.tensor(width, dtype=dtype)
    space = (resolution / config.TRANSFORM_BASE_RESOLUTION).sqrt()
    frames = torch.tensor(1.0 if num_frames == 1 else num_frames // 17 * 5, dtype=dtype)
    if float(frames) <= 0:
        raise ValueError(f"shift_timesteps: {num_frames} frames is below the VAE's 17-frame chunk; Open-Sora 1.2 needs 17·n frames")
    ratio = space * (frames / config.TRANSFORM_BASE_FRAMES).sqrt()
    t = timesteps.float() / num_timesteps
    shifted = ratio * t / (1 + (ratio - 1) * t)
    return (shifted * num_timesteps).float()


@dataclass
class FlowState:
    """The sampler's state between steps.

    Attributes:
        latents: float32 ``[B, C, T, H, W]``.
        frame_mask: float ``[B, T]`` in [0, 1] (see the module docstring) or None.
        noised: bool ``[B, T]``: frames already carrying noise (with a mask).
    """

    latents: torch.Tensor
    frame_mask: torch.Tensor | None = None
    noised: torch.Tensor | None = field(default=None)


@dataclass
class RectifiedFlowSampler:
    """Open-Sora 1.2's sampler (``rflow`` with ``use_timestep_transform=True``).

    Attributes:
        num_steps: Sampling steps (30).
        guidance: Classifier-free guidance scale (7.0).
        num_timesteps: Time scale (1000).
        shift: Apply `shift_timesteps` (the released config does).
    """

    num_steps: int = config.NUM_STEPS
    guidance: float = config.GUIDANCE
    num_timesteps: int = config.NUM_TIMESTEPS
    shift: bool = True

    def timesteps(self, height: float, width: float, num_frames: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """float32 ``[num_steps]``: 1000, 1000·(1 − 1/n), ... shifted for the video size."""
        base = torch.tensor([(1.0 - i / self.num_steps) * self.num_timesteps for i in range(self.num_steps)])
        return shift_timesteps(base, height, width, num_frames, self.num_timesteps, dtype) if self.shift else base

    def start(self, latents: torch.Tensor, frame_mask: torch.Tensor | None = None) -> FlowState:
        """The state before step 0.

        Args:
            latents: ``[B, C, T, H, W]``: noise, with the reference latents already in
                the frames ``frame_mask`` marks below 1.
            frame_mask: ``[B, T]`` in [0, 1], or None (text-to-video: every frame generated).
        """
        noised = None if frame_mask is None else frame_mask == 1
        return FlowState(latents.float(), None if frame_mask is None else frame_mask.float(), noised)

    def add_noise(self, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The flow's interpolation at ``t`` ``[B]``: ``(1 − t/1000)·clean + t/1000·noise``."""
        keep = (1 - t.float() / self.num_timesteps)[:, None, None, None, None]
        return keep * clean + (1 - keep) * noise

    def step(
        self,
        model: Denoiser,
        state: FlowState,
        timesteps: torch.Tensor,
        index: int,
        noise: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> FlowState:
        """One sampling step (guided), in place of upstream's loop body.

        Args:
            model: The guided denoiser call (see `Denoiser`).
            state: From `start` or the previous step.
            timesteps: From `timesteps`.
            index: The step, 0 ... num_steps − 1.
            noise: ``noise(latents)`` → standard-normal tensor like ``latents``, for
                re-noising masked frames; drawn at every step with a mask, as upstream
                does (so a seed gives the same stream). Required with a frame mask.

        Returns:
            The next state.
        """
        z = state.latents
        batch = z.shape[0]
        t = timesteps[index].expand(batch).to(z.device)
        frames_live = None
        noised = state.noised
        if state.frame_mask is not None:
            if noise is None:
                raise ValueError("RectifiedFlowSampler.step: a frame mask needs a noise source")
            clean = z
            renoised = self.add_noise(clean, noise(clean), t)
            frames_live = state.frame_mask.to(z.device) * self.num_timesteps >= t[:, None]
            start_noise = frames_live & ~noised
            z = torch.where(start_noise[:, None, :, None, None], renoised, clean)
            noised = frames_live
        both = torch.cat([z, z])
        frame_mask = None if frames_live is None else torch.cat([frames_live, frames_live])
        velocity = model(both, torch.cat([t, t]), frame_mask)
        cond, uncond = velocity.float().chunk(2)
        guided = uncond + self.guidance * (cond - uncond)
        following = timesteps[index + 1] if index + 1 < len(timesteps) else torch.zeros(())
        dt = (timesteps[index] - following) / self.num_timesteps
        z = z + guided * dt.to(z.device)
        if frames_live is not None:
            z = torch.where(frames_live[:, None, :, None, None], z, clean)
        return FlowState(z, state.frame_mask, noised)

    def sample(
        self,
        model: Denoiser,
        latents: torch.Tensor,
        height: float,
        width: float,
        num_frames: int,
        frame_mask: torch.Tensor | None = None,
        noise: Callable[[torch.Tensor], torch.Tensor] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Run every step from ``latents``; returns float32 ``[B, C, T, H, W]``."""
        timesteps = self.timesteps(height, width, num_frames, dtype)
        state = self.start(latents, frame_mask)
        for index in range(len(timesteps)):
            state = self.step(model, state, timesteps, index, noise)
        return state.latents


def parse_mask_strategy(strategy: str, num_latent_frames: int, reference_frames: Sequence[int]) -> list[tuple[int, int, int, int, float]]:
    """Upstream's ``mask_strategy`` string for loop 0, as (reference, ref_start, target_start, length, edit).

    Each ``;``-separated group is ``loop,reference,ref_start,target_start,length,edit``
    with missing trailing fields defaulting to ``0,0,0,0,1,0`` (``"0"``: reference 0's
    first latent frame becomes frame 0, kept as given). Negative starts count from the
    end; lengths are cut to what both sides hold.

    Args:
        strategy: The string (e.g. ``"0"``).
        num_latent_frames: T of the latent being generated.
        reference_frames: Latent frames of each reference.

    Raises:
        ValueError: On a malformed group or a reference index out of range.
    """
    default = ["0", "0", "0", "0", "1", "0"]
    out = []
    for group in filter(None, strategy.split(";")):
        fields = group.split(",")
        if not 1 <= len(fields) <= 6:
            raise ValueError(f"mask strategy {strategy!r}: group {group!r} has {len(fields)} fields, expected 1 to 6")
        fields = fields + default[len(fields):]
        try:
            loop, ref, ref_start, target_start, length = (int(f) for f in fields[:5])
            edit = float(fields[5])
        except ValueError as err:
            raise ValueError(f"mask strategy {strategy!r}: group {group!r}: {err}") from err
        if loop != 0:
            continue  # later loops extend a video; the benchmark generates one clip
        if not 0 <= ref < len(reference_frames):
            raise ValueError(f"mask strategy {strategy!r}: reference {ref} asked for, {len(reference_frames)} given")
        if ref_start < 0:
            ref_start += reference_frames[ref]
        if target_start < 0:
            target_start += num_latent_frames
        length = min(length, num_latent_frames - target_start, reference_frames[ref] - ref_start)
        out.append((ref, ref_start, target_start, length, edit))
    return out


def apply_references(
    latents: torch.Tensor, references: Sequence[torch.Tensor], strategy: str = config.IMAGE_MASK_STRATEGY
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write reference latents into one sample's noise and build its frame mask.

    Args:
        latents: ``[C, T, H, W]`` noise of one sample (not modified).
        references: ``[C, T_ref, H, W]`` latents (the VAE-encoded context image: T_ref = 1).
        strategy: Upstream's mask strategy (default ``"0"``: image to video).

    Returns:
        (latents with the references written in, float frame mask ``[T]``).
    """
    latents = latents.clone()
    mask = torch.ones(latents.shape[1], dtype=torch.float32, device=latents.device)
    for ref, ref_start, target_start, length, edit in parse_mask_strategy(strategy, latents.shape[1], [r.shape[1] for r in references]):
        latents[:, target_start : target_start + length] = references[ref][:, ref_start : ref_start + length]
        mask[target_start : target_start + length] = edit
    return latents, mask
