"""`HandiPipeline`: stage 1 (motion-area mask) → morphology → stage 2 (video) → mask enforcement.

Paper §3, "Inference": the context latent is repeated over the L frames, concatenated
with a mask channel and noised to the first sampling step (Eq. 1 at the max step);
DPM-Solver++ then denoises it under classifier-free guidance. Stage 1 runs this with
the prior mask as its mask channel and decodes a mask video; the union over frames of
that video, post-processed with morphology (`handi.motion_area.postprocess_mask`), is
stage 2's mask. After decoding, pixels outside the mask are replaced by the context
image (§3, "We follow Dai et al. to explicitly enforce the mask").

Where the mask comes from is the Table 2 ablation switch: ``stage1`` (HANDI), ``prior``,
``gt`` (an oracle mask passed in) or ``none`` (AnimateAnything without a mask: all ones).

Speed (`SpeedOptions`, `HandiPipeline.enable_speed`): the reference path is the default
and is left as it was; each optimization (bf16 weights, attention kernel, channels-last,
`torch.compile`, CUDA graphs, a sync-free loop, sequential guidance for comparison) is
an opt-in switch whose output is checked against the reference in
tests/test_fast_generation.py within a stated tolerance.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline

from handi.diffusion import decode_latents, encode_frames, frames_to_unit, mask_to_latent
from handi.motion_area import postprocess_mask, scaled_kernel_size
from handi.text import encode_prompts

MASK_SOURCES = ("stage1", "prior", "gt", "none")
PRIOR_MASK_FILE = "prior_mask.npy"
#: Solver steps per stage of the ``fast`` preset; its quality cost against the paper's 25
#: is measured on the demo split (benchmarks/bench_generation_speed.py --quality).
FAST_PRESET_STEPS = 12

_CFG_MODES = ("batched", "sequential")
_SPEED_DTYPES = ("float32", "bfloat16")
_ATTENTION_KERNELS = ("sdpa", "math", "flash")
_COMPILE_MODES = ("none", "default", "max-autotune-no-cudagraphs", "reduce-overhead")


@dataclass(frozen=True)
class SpeedOptions:
    """How `HandiPipeline` runs its networks; the defaults are the reference path, unchanged.

    Attributes:
        cfg: ``batched`` (reference): the unconditional and text rows go through the UNet
            in one call of batch 2B; ``sequential``: two calls of batch B (kept to measure
            what batching saves; equal to the reference within float32 rounding).
        dtype: ``float32`` (reference: the weights stay as loaded); ``bfloat16``: UNets and
            VAE in bfloat16 while the solver's latents stay float32 (cast at each call),
            so the DPM-Solver++ update does not accumulate bfloat16 rounding.
        attention: ``sdpa`` (reference: diffusers' `AttnProcessor2_0`, PyTorch's
            scaled_dot_product_attention with its automatic kernel choice); ``math``:
            diffusers' `AttnProcessor` in the UNets and the VAE (explicit softmax(QKᵀ)V,
            the unoptimized baseline);
            ``flash``: SDPA restricted to the flash kernel (CUDA and 16-bit weights only).
        channels_last: Put the 4-D convolution weights in channels-last memory format.
        compile: ``none`` (reference) or a `torch.compile` mode for both UNets;
            ``reduce-overhead`` captures CUDA graphs (CUDA only).
        sync_free: Tell the scheduler its first step index (``set_begin_index``) instead of
            letting it look the timestep up with ``nonzero().item()`` (a host-device sync
            on the first step of every stage); the same index whenever the schedule's
            timesteps are distinct, as DPM-Solver++'s are.
        decode_chunk: Frames per VAE decode call (None, the reference: all B·L at once).
    """

    cfg: str = "batched"
    dtype: str = "float32"
    attention: str = "sdpa"
    channels_last: bool = False
    compile: str = "none"
    sync_free: bool = False
    decode_chunk: int | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("cfg", _CFG_MODES), ("dtype", _SPEED_DTYPES), ("attention", _ATTENTION_KERNELS),
                              ("compile", _COMPILE_MODES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"SpeedOptions.{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if self.decode_chunk is not None and self.decode_chunk < 1:
            raise ValueError(f"SpeedOptions.decode_chunk must be None or >= 1; got {self.decode_chunk}")

    def describe(self) -> dict[str, Any]:
        """The options as a plain dict (for run configs and speed reports)."""
        return asdict(self)

    def check_device(self, device: torch.device) -> None:
        """Refuse the CUDA-only options off CUDA, saying which and why.

        Raises:
            ValueError: ``attention="flash"`` or ``compile="reduce-overhead"`` on a non-CUDA
                device, or ``attention="flash"`` without ``dtype="bfloat16"``.
        """
        if device.type != "cuda":
            if self.attention == "flash":
                raise ValueError(f"SpeedOptions.attention='flash' needs a CUDA device (PyTorch's flash-attention "
                                 f"kernel is CUDA-only); the pipeline is on {device}. Use attention='sdpa'.")
            if self.compile == "reduce-overhead":
                raise ValueError(f"SpeedOptions.compile='reduce-overhead' captures CUDA graphs and needs a CUDA device; "
                                 f"the pipeline is on {device}. Use compile='default'.")
        if self.attention == "flash" and self.dtype != "bfloat16":
            raise ValueError("SpeedOptions.attention='flash' needs 16-bit inputs (the flash kernel has no float32 path); "
                             "pass dtype='bfloat16' too.")


#: Named sets of speed options: the reference path and everything that keeps its output
#: within the stated tolerances (tests/test_fast_generation.py). ``compile`` is left out
#: of ``optimized`` because its one-off compile time only pays over many clips; add it
#: with ``dataclasses.replace``.
SPEED_PRESETS: dict[str, SpeedOptions] = {
    "reference": SpeedOptions(),
    "optimized": SpeedOptions(dtype="bfloat16", channels_last=True, sync_free=True),
}


@dataclass
class HandiOutput:
    """What `HandiPipeline.__call__` returns.

    Attributes:
        frames: uint8 ``[B, L, H, W, 3]`` generated frames (context not included).
        mask: bool ``[B, H, W]`` the mask stage 2 was conditioned on (and enforced).
        mask_video: float ``[B, L, H, W]`` in [0, 1], stage 1's decoded soft masks; None
            unless the mask came from stage 1.
        latents: float32 ``[B, 4, L, h, w]`` stage 2's clean latent video, on the CPU
            (what the speed options are compared on, before 8-bit quantization).
    """

    frames: np.ndarray
    mask: np.ndarray
    mask_video: np.ndarray | None = None
    latents: torch.Tensor | None = None


class HandiPipeline(DiffusionPipeline):
    """HANDI's two-stage sampler (diffusers pipeline; ``save_pretrained``/``from_pretrained``).

    Components: ``vae`` (SD AutoencoderKL), ``text_encoder`` + ``tokenizer`` (CLIP text),
    ``scheduler`` (DPM-Solver++ by default), ``unet`` (stage 2, video) and the optional
    ``mask_unet`` (stage 1, motion-area masks; absent for AnimateAnything). The prior mask
    (float ``[H, W]`` in [0, 1], normalized coverage of the training masks) is saved
    beside them as ``prior_mask.npy``.
    """

    model_cpu_offload_seq = "text_encoder->mask_unet->unet->vae"
    _optional_components = ["mask_unet"]

    def __init__(self, vae: Any, text_encoder: Any, tokenizer: Any, scheduler: Any, unet: Any, mask_unet: Any = None):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler, unet=unet, mask_unet=mask_unet)
        self.prior_mask: np.ndarray | None = None
        self.speed = SpeedOptions()

    # -- speed -----------------------------------------------------------------
    def enable_speed(self, options: SpeedOptions | str) -> "HandiPipeline":
        """Switch this pipeline's networks to ``options`` (a `SpeedOptions` or a `SPEED_PRESETS` name).

        Call it once, after moving the pipeline to its device and before sampling: it casts
        and re-formats the UNets and the VAE in place and compiles the UNets (compilation
        itself happens lazily, on the first call). Going back to the reference means
        loading the pipeline again.

        Args:
            options: The options, or ``"reference"`` / ``"optimized"``.

        Returns:
            This pipeline.

        Raises:
            ValueError: An unknown preset name, options already enabled, or a CUDA-only
                option off CUDA (`SpeedOptions.check_device`).
        """
        if isinstance(options, str):
            if options not in SPEED_PRESETS:
                raise ValueError(f"unknown speed preset {options!r}; choose one of {', '.join(SPEED_PRESETS)}")
            options = SPEED_PRESETS[options]
        if self.speed != SpeedOptions():
            raise ValueError(f"speed options are already enabled ({self.speed}); load the pipeline again to change them")
        options.check_device(self.unet.device)
        networks = [m for m in (self.unet, self.mask_unet) if m is not None]
        if options.dtype == "bfloat16":
            for module in (*networks, self.vae):
                module.to(dtype=torch.bfloat16)
        if options.attention == "math":
            from diffusers.models.attention_processor import Attention, AttnProcessor

            for module in (*networks, self.vae):
                for sub in module.modules():
                    if isinstance(sub, Attention):
                        sub.set_processor(AttnProcessor())
        if options.channels_last:
            # Only the 2-D convolutions: channels-last is a 4-D layout (the temporal Conv3d
            # weights would need channels_last_3d on 5-D inputs the blocks do not make).
            for module in (*networks, self.vae):
                for sub in module.modules():
                    if isinstance(sub, torch.nn.Conv2d):
                        sub.to(memory_format=torch.channels_last)
        if options.compile != "none":
            for module in networks:
                # nn.Module.compile compiles in place, so the pipeline keeps its own
                # module types (config, dtype, device) and save_pretrained still works.
                module.compile(mode=options.compile, dynamic=False)
        self.speed = options
        return self

    def _sampler_dtype(self) -> torch.dtype:
        """The dtype of the solver's latents: the UNet's (reference), float32 with bf16 speed options."""
        return torch.float32 if self.speed.dtype == "bfloat16" else self.unet.dtype

    def _unet_call(self, unet: Any, sample: torch.Tensor, t: torch.Tensor, text: torch.Tensor, context: torch.Tensor,
                   mask: torch.Tensor | None, motion: torch.Tensor | None) -> torch.Tensor:
        """One UNet prediction in the solver's dtype (casts are no-ops on the reference path)."""
        if self.speed.compile == "reduce-overhead":
            # A CUDA-graph replay overwrites its previous outputs: mark each call a new
            # step and copy the prediction out before the next replay.
            torch.compiler.cudagraph_mark_step_begin()
        dtype = unet.dtype
        pred = unet(sample.to(dtype), t, encoder_hidden_states=text.to(dtype), condition_latent=context.to(dtype),
                    mask=None if mask is None else mask.to(dtype), motion=motion).sample
        if self.speed.compile == "reduce-overhead":
            pred = pred.clone()
        return pred.to(sample.dtype)

    def _attention_kernel(self) -> Any:
        """The SDPA backend restriction of ``attention="flash"`` (a no-op context otherwise)."""
        if self.speed.attention != "flash":
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel([SDPBackend.FLASH_ATTENTION])

    # -- persistence -----------------------------------------------------------
    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:
        super().save_pretrained(save_directory, **kwargs)
        if getattr(self.tokenizer, "hcvg_offline_bpe", False):
            # Rebuilt offline on load (`handi.text.clip_bpe_tokenizer`); a reloaded copy
            # would pad differently, so none is kept.
            shutil.rmtree(Path(save_directory) / "tokenizer", ignore_errors=True)
        if self.prior_mask is not None:
            np.save(Path(save_directory) / PRIOR_MASK_FILE, self.prior_mask.astype(np.float32))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, hrl: str = "on", **kwargs: Any) -> "HandiPipeline":
        """Load a weights folder: released AnimateAnything / HANDI ones (no ``model_index.json``) or saved here.

        See `handi.loading.load_handi_pipeline` (``hrl="off"`` picks ``unet_no_hrl/``).
        """
        from handi.loading import load_handi_pipeline

        return load_handi_pipeline(pretrained_model_name_or_path, hrl=hrl, **kwargs)

    # -- conditioning ----------------------------------------------------------
    def encode_prompt(self, prompts: Sequence[str]) -> torch.Tensor:
        """CLIP text embeddings ``[B, N, d]`` (last hidden state, padded to the tokenizer's max length)."""
        return encode_prompts(self.tokenizer, self.text_encoder, list(prompts))

    def _pixels(self, images: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` → float ``[B, 1, 3, h, w]`` in [-1, 1] at the native size."""
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        return x[:, None].to(self.vae.device, self.vae.dtype)

    def _mask_pixels(self, masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """bool/float ``[B, H, W]`` → float ``[B, h, w]`` at the native size (area-resized)."""
        x = torch.from_numpy(np.asarray(masks, dtype=np.float32))[:, None]
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="area")
        return x[:, 0].numpy()

    # -- sampling --------------------------------------------------------------
    def sample_latents(
        self,
        unet: Any,
        context_latent: torch.Tensor,
        mask: torch.Tensor | None,
        text: torch.Tensor,
        uncond: torch.Tensor,
        num_frames: int,
        steps: int,
        guidance: float,
        motion: float | None,
        generator: torch.Generator | None,
        start: torch.Tensor | None = None,
        strength: float = 1.0,
    ) -> torch.Tensor:
        """One stage's denoising loop; returns the clean latent video ``[B, 4, L, h, w]``.

        Args:
            unet: The stage's `HandiUNet3DConditionModel`.
            context_latent: ``[B, 4, 1, h, w]`` clean context latent.
            mask: ``[B, 1, 1, h, w]`` mask channel, or None for a UNet without one.
            text, uncond: ``[B, N, d]`` prompt and empty-prompt embeddings.
            num_frames: L.
            steps: Solver steps.
            guidance: Classifier-free guidance scale (≤ 1: no guidance, one UNet pass per step).
            motion: Motion strength, used when the UNet conditions on one.
            generator: Seeds the initial noise: one generator, or one per batch element
                (then a batch gives the same videos as single calls).
            start: ``[B, 4, L, h, w]`` latent video to noise and denoise from (default: the
                context latent repeated, as in paper §3 "Inference").
            strength: Fraction of the schedule to run (1: from the max noise step, the
                paper's; less starts from a partly noised ``start``, SDEdit-style).
        """
        if not 0 < strength <= 1:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        self.scheduler.set_timesteps(steps, device=context_latent.device)
        first = steps - max(1, round(strength * steps))
        timesteps = self.scheduler.timesteps[first:]
        if self.speed.sync_free:
            # Else the scheduler finds its step index with nonzero().item() (a sync).
            self.scheduler.set_begin_index(first)
        if start is None:
            start = context_latent.expand(-1, -1, num_frames, -1, -1)
        noise = _initial_noise(tuple(start.shape), generator).to(start.device, start.dtype)
        latents = self.scheduler.add_noise(start, noise, timesteps[:1].repeat(start.shape[0]))
        guided = guidance > 1.0
        batched = guided and self.speed.cfg == "batched"
        # The guidance batch is built once: [uncond; cond] rows, same context and mask.
        text_in = torch.cat([uncond, text]) if batched else text
        context_in = torch.cat([context_latent] * 2) if batched else context_latent
        mask_in = None if mask is None else (torch.cat([mask] * 2) if batched else mask)
        motion_in = None
        if motion is not None and getattr(unet.config, "motion_strength", False):
            motion_in = torch.full((context_in.shape[0],), float(motion), device=latents.device)
        with self._attention_kernel():
            for t in self.progress_bar(timesteps):
                model_in = torch.cat([latents] * 2) if batched else latents
                model_in = self.scheduler.scale_model_input(model_in, t)
                if batched:
                    pred_uncond, pred_text = self._unet_call(unet, model_in, t, text_in, context_in, mask_in, motion_in).chunk(2)
                elif guided:
                    pred_uncond = self._unet_call(unet, model_in, t, uncond, context_in, mask_in, motion_in)
                    pred_text = self._unet_call(unet, model_in, t, text_in, context_in, mask_in, motion_in)
                else:
                    pred = self._unet_call(unet, model_in, t, text_in, context_in, mask_in, motion_in)
                if guided:
                    pred = pred_uncond + guidance * (pred_text - pred_uncond)
                latents = self.scheduler.step(pred, t, latents).prev_sample
        return latents

    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        prompt: str | Sequence[str],
        num_frames: int = 15,
        mask: str = "stage1",
        gt_mask: np.ndarray | None = None,
        num_inference_steps: int = 25,
        guidance_scale: float = 9.0,
        motion_strength: float | None = 3.0,
        mask_guidance_scale: float | None = None,
        mask_strength: float = 1.0,
        enforce_mask: bool = True,
        size: tuple[int, int] | None = None,
        kernel_size: int = 15,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> HandiOutput:
        """Generate L frames from a context image and an action prompt.

        Args:
            image: uint8 ``[H, W, 3]`` or ``[B, H, W, 3]`` RGB context frame(s).
            prompt: Action text (already expanded, if an expander is used), one per image.
            num_frames: L, frames to generate after the context.
            mask: Where stage 2's mask comes from: ``stage1``, ``prior``, ``gt`` or ``none``.
            gt_mask: bool ``[B, H, W]`` ground-truth motion area, for ``mask="gt"``.
            num_inference_steps: DPM-Solver++ steps per stage (paper: 25).
            guidance_scale: Stage 2's classifier-free guidance (released inference: 9).
            motion_strength: Stage 2's motion strength (released inference: 3).
            mask_guidance_scale: Stage 1's guidance (default: ``guidance_scale``).
            mask_strength: Stage 1's start: 1 (the paper) denoises from pure noise; less
                starts from the prior-mask video noised to that fraction of the schedule
                (an undertrained model, like the tiny one, localizes better so).
            enforce_mask: Replace pixels outside the mask by the context image (paper §3).
            size: ``(H, W)`` to generate at (default: the UNet's native size).
            kernel_size: Morphology kernel in pixels at 256² (scaled to ``size``).
            generator: Seeds all sampling; a list gives each image its own generator.

        Returns:
            `HandiOutput` at ``size``.
        """
        if mask not in MASK_SOURCES:
            raise ValueError(f"mask must be one of {', '.join(MASK_SOURCES)}, got {mask!r}")
        images = image[None] if image.ndim == 3 else image
        prompts = [prompt] * len(images) if isinstance(prompt, str) else list(prompt)
        if len(prompts) != len(images):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        if size is None:
            side = int(self.unet.config.sample_size) * (2 ** (len(self.vae.config.block_out_channels) - 1))
            size = (side, side)
        latent_size = (size[0] // 8, size[1] // 8)
        dtype = self._sampler_dtype()
        context = self._pixels(images, size)
        context_latent = encode_frames(self.vae, context).to(dtype)
        text = self.encode_prompt(prompts).to(dtype)
        uncond = self.encode_prompt([""] * len(prompts)).to(dtype)

        mask_video = None
        if mask == "stage1":
            mask_video = self.generate_masks(context_latent, text, uncond, num_frames, num_inference_steps,
                                             guidance_scale if mask_guidance_scale is None else mask_guidance_scale, generator,
                                             strength=mask_strength)
            soft = mask_video.max(axis=1)
        elif mask == "prior":
            soft = np.repeat(self.prior_at(size)[None], len(images), axis=0)
        elif mask == "gt":
            if gt_mask is None:
                raise ValueError("mask='gt' needs gt_mask (the ground-truth motion area)")
            soft = self._mask_pixels(gt_mask, size)
        else:
            soft = np.ones((len(images), *size), dtype=np.float32)
        kernel = scaled_kernel_size(size[0], kernel_size)
        final = np.stack([postprocess_mask(m, kernel_size=kernel) for m in soft]) if mask != "none" else soft >= 0.5

        mask_t = torch.from_numpy(final.astype(np.float32)).to(context_latent.device)
        mask_latent = mask_to_latent(mask_t, latent_size).to(dtype) if self.unet.config.motion_mask else None
        latents = self.sample_latents(self.unet, context_latent, mask_latent, text, uncond, num_frames,
                                      num_inference_steps, guidance_scale, motion_strength, generator)
        frames = frames_to_unit(decode_latents(self.vae, latents.to(self.vae.dtype), chunk=self.speed.decode_chunk).float())  # [B, L, 3, H, W]
        if enforce_mask:
            keep = mask_t[:, None, None]
            frames = keep * frames + (1 - keep) * frames_to_unit(context.float())
        video = (frames.permute(0, 1, 3, 4, 2) * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
        return HandiOutput(frames=video, mask=final, mask_video=mask_video, latents=latents.float().cpu())

    def generate_masks(self, context_latent, text, uncond, num_frames, steps, guidance, generator, strength: float = 1.0) -> np.ndarray:
        """Stage 1: the motion-area mask video, float ``[B, L, H, W]`` in [0, 1]."""
        if self.mask_unet is None:
            raise ValueError("this pipeline has no stage-1 mask_unet (AnimateAnything weights?); use mask=prior|gt|none")
        b, size = context_latent.shape[0], tuple(s * 8 for s in context_latent.shape[-2:])
        prior = torch.from_numpy(self.prior_at(size))[None].expand(b, -1, -1)
        channel = mask_to_latent(prior, tuple(context_latent.shape[-2:]), threshold=None).to(context_latent.device, context_latent.dtype)
        start = None
        if strength < 1:
            # The prior as a grey mask video, encoded like stage 1's training targets.
            images = (prior.to(context_latent.device) * 2 - 1)[:, None, None].expand(-1, num_frames, 3, -1, -1)
            start = encode_frames(self.vae, images.to(self.vae.dtype)).to(context_latent.dtype)
        latents = self.sample_latents(self.mask_unet, context_latent, channel, text, uncond, num_frames, steps, guidance, None,
                                      generator, start=start, strength=strength)
        decoded = decode_latents(self.vae, latents.to(self.vae.dtype), chunk=self.speed.decode_chunk).float()
        return frames_to_unit(decoded.mean(dim=2)).cpu().numpy()

    def prior_at(self, size: tuple[int, int]) -> np.ndarray:
        """The prior mask resized (area) to ``size``, float ``[H, W]`` in [0, 1]."""
        if self.prior_mask is None:
            raise ValueError(f"this pipeline has no {PRIOR_MASK_FILE}; compute one with `hcvg masks prior --split S`")
        return self._mask_pixels(self.prior_mask[None], size)[0]


def _initial_noise(shape: tuple[int, ...], generator: torch.Generator | list[torch.Generator] | None) -> torch.Tensor:
    """Standard-normal noise drawn on the CPU (the same numbers on every machine)."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
        return torch.stack([torch.randn(shape[1:], generator=g, dtype=torch.float32) for g in generator])
    return torch.randn(shape, generator=generator, dtype=torch.float32)
