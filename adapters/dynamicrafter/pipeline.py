"""`DynamiCrafterPipeline`: image-and-text to video, as upstream's ``image_guided_synthesis``.

The steps of ``scripts/evaluation/inference.py`` for the 256 model, with the native
modules: OpenCLIP text and image features, the Resampler, the SD VAE, the UNet and
DDIM with classifier-free guidance (`adapters.dynamicrafter.sampler`). Every random
draw of request i (the VAE posterior sample, the initial noise, the noise of each DDIM
step) comes from request i's own generator, so a batch gives the videos of single calls.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator, Sequence

import torch

from adapters.dynamicrafter.sampler import guided_noise

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, DDIMScheduler

    from adapters.dynamicrafter.encoders import OpenCLIPConditioner
    from adapters.dynamicrafter.resampler import ImageResampler
    from adapters.dynamicrafter.unet import DynamiCrafterUNet


class DynamiCrafterPipeline:
    """The components and the sampling loop.

    Args:
        unet, resampler, vae, conditioner, scheduler: The components.
        device: Where the computation runs.
        dtype: The weights' dtype (inputs are cast to it).
        offload: Keep components on the CPU and move each to ``device`` only while it
            runs (the adapter kit's ``offload=model``).
    """

    def __init__(self, unet: "DynamiCrafterUNet", resampler: "ImageResampler", vae: "AutoencoderKL",
                 conditioner: "OpenCLIPConditioner", scheduler: "DDIMScheduler", device: torch.device,
                 dtype: torch.dtype, offload: bool = False):
        self.unet, self.resampler, self.vae, self.conditioner, self.scheduler = unet, resampler, vae, conditioner, scheduler
        self.device, self.dtype, self.offload = device, dtype, offload

    @contextlib.contextmanager
    def _on_device(self, *modules: torch.nn.Module) -> Iterator[None]:
        if not self.offload:
            yield
            return
        for module in modules:
            module.to(self.device)
        try:
            yield
        finally:
            for module in modules:
                module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    @torch.no_grad()
    def __call__(
        self,
        prompts: Sequence[str],
        images: torch.Tensor,
        generators: Sequence[torch.Generator],
        num_frames: int = 16,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        eta: float = 1.0,
        frame_stride: int = 3,
        negative_prompt: str = "",
    ) -> torch.Tensor:
        """Generate one video per prompt and context image.

        Args:
            prompts: B prompts.
            images: float ``[B, 3, H, W]`` in [-1, 1], the context frames at the native size.
            generators: B CPU generators, one per request.
            num_frames: T, frames to generate (frame 0 is the context's).
            num_inference_steps: DDIM steps.
            guidance_scale: Classifier-free guidance on text and image jointly.
            eta: DDIM eta.
            frame_stride: The motion control of the 256 model.
            negative_prompt: Text of the unconditional branch (upstream: empty).

        Returns:
            float ``[B, T, 3, H, W]`` in [0, 1], on the CPU.
        """
        b = len(prompts)
        if images.shape[0] != b or len(generators) != b:
            raise ValueError(f"DynamiCrafterPipeline: {b} prompts, {images.shape[0]} images, {len(generators)} generators")
        device, dtype = self.device, self.dtype
        images = images.to(device=device, dtype=dtype)
        guided = guidance_scale != 1.0

        # 1. Encode the prompts (penultimate OpenCLIP layer) and the context image (all tokens).
        with self._on_device(self.conditioner):
            text = self.conditioner.encode_text(list(prompts)).to(dtype)
            image_tokens = self.conditioner.encode_image(images).to(dtype)
            if guided:
                # NOTE: upstream's unconditional branch drops text and image together: the
                # empty prompt and an all-zero image in [-1, 1] (mid-grey), see
                # scripts/evaluation/inference.py image_guided_synthesis.
                uncond_text = self.conditioner.encode_text([negative_prompt] * b).to(dtype)
                uncond_tokens = self.conditioner.encode_image(torch.zeros_like(images)).to(dtype)

        # 2. Resample the image tokens to 16 context tokens per frame.
        with self._on_device(self.resampler):
            context = torch.cat([text, self.resampler(image_tokens)], dim=1)
            uncond = torch.cat([uncond_text, self.resampler(uncond_tokens)], dim=1) if guided else None

        # 3. The context frame's latent (a posterior sample, as upstream), repeated over time.
        scale = self.vae.config.scaling_factor
        with self._on_device(self.vae):
            posterior = self.vae.encode(images).latent_dist
            noise = torch.stack([torch.randn(posterior.mean.shape[1:], generator=g) for g in generators])
            first = (posterior.mean + posterior.std * noise.to(device=device, dtype=posterior.mean.dtype)) * scale
        first = first.unsqueeze(2).expand(-1, -1, num_frames, -1, -1)

        # 4. Initial noise, request by request.
        shape = (self.unet.config.out_channels, num_frames, *first.shape[-2:])
        latents = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device=device, dtype=dtype)

        # 5. DDIM with classifier-free guidance.
        self.scheduler.set_timesteps(num_inference_steps)
        stride = torch.full((b,), int(frame_stride), device=device, dtype=torch.long)
        with self._on_device(self.unet):
            for t in self.scheduler.timesteps:
                timestep = torch.full((b,), int(t), device=device, dtype=torch.long)
                noise_pred = guided_noise(self.unet, latents, first, timestep, context, uncond, stride, guidance_scale)
                step_noise = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device=device, dtype=dtype)
                latents = self.scheduler.step(noise_pred, t, latents, eta=eta, variance_noise=step_noise).prev_sample

        # 6. Decode the frames (with vae_slicing, one frame at a time, as upstream's perframe_ae).
        with self._on_device(self.vae):
            frames = latents.permute(0, 2, 1, 3, 4).reshape(b * num_frames, *latents.shape[1:2], *latents.shape[-2:])
            video = self.vae.decode(frames / scale).sample
        video = video.reshape(b, num_frames, *video.shape[1:]).float().clamp(-1, 1)
        return ((video + 1) / 2).cpu()
