"""`OpenSoraPipeline`: Open-Sora 1.2 inference from prompt (and image) to video, as upstream runs it.

The steps follow scripts/inference.py of v1.2.0 for one loop (no video extension):
the prompt gets the aesthetic score and is T5-encoded; the reference image, if any, is
VAE-encoded (both posteriors sampled) and written into latent frame 0 under mask
strategy ``"0"``; the latent starts as noise and is denoised by the rectified-flow
sampler with classifier-free guidance; the VAE decodes it.

Each request has its own generator, which draws, in order, the reference's posterior
samples, the initial noise and (image-to-video) the per-step re-noising noise, so a
batch gives the same videos as single calls.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from adapters.opensora import config
from adapters.opensora.sampler import RectifiedFlowSampler, apply_references
from adapters.opensora.stdit3 import STDiT3Model
from adapters.opensora.text import T5Captions, prepare_prompt
from adapters.opensora.vae import OpenSoraVAE


@dataclass
class OpenSoraPipeline:
    """The three components and how they share the device.

    Attributes:
        transformer: The denoiser.
        vae: The video VAE.
        captions: The T5 text side.
        device: Where the computation runs.
        dtype: The denoiser's and the VAE's dtype (the text encoder keeps its own).
        offload: Keep each component on the CPU except while it runs (``"model"``), or
            everything on ``device`` (``"none"``).
        attention: torch SDPA backend for the denoiser (``default``, ``flash``,
            ``efficient``, ``cudnn``, ``math``).
    """

    transformer: STDiT3Model
    vae: OpenSoraVAE
    captions: T5Captions
    device: torch.device
    dtype: torch.dtype
    offload: str = "none"
    attention: str = "default"

    def place(self) -> "OpenSoraPipeline":
        """Put the components where ``offload`` says (on the device, or the CPU until used)."""
        home = torch.device("cpu") if self.offload == "model" else self.device
        for module in (self.transformer, self.vae):
            module.to(home, self.dtype)
        # The text encoder keeps the dtype it was loaded in (upstream runs T5 in float32).
        self.captions.encoder.to(home)
        return self

    @contextlib.contextmanager
    def _on_device(self, module: torch.nn.Module) -> Iterator[None]:
        if self.offload != "model":
            yield
            return
        module.to(self.device)
        try:
            yield
        finally:
            module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _attention_context(self):
        if self.attention == "default":
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                   "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}[self.attention]
        return sdpa_kernel(backend)

    def latent_shape(self, height: int, width: int, num_frames: int) -> tuple[int, int, int, int]:
        """(C, T', H', W') of one sample's latent."""
        factor = 2 ** (len(self.vae.spatial.config.block_out_channels) - 1)
        if height % (factor * 2) or width % (factor * 2):
            raise ValueError(f"Open-Sora: height and width must be multiples of {factor * 2} (VAE {factor}x, patches 2x); got {height}x{width}")
        return (self.transformer.config.in_channels, self.vae.latent_frames(num_frames), height // factor, width // factor)

    @torch.no_grad()
    def __call__(
        self,
        prompts: Sequence[str],
        generators: Sequence[torch.Generator],
        images: torch.Tensor | None = None,
        height: int = config.NATIVE_SIZE[0],
        width: int = config.NATIVE_SIZE[1],
        num_frames: int = config.NATIVE_FRAMES,
        num_steps: int = config.NUM_STEPS,
        guidance: float = config.GUIDANCE,
        fps: float = config.FPS,
        aesthetic_score: float | None = config.AESTHETIC_SCORE,
        mask_strategy: str = config.IMAGE_MASK_STRATEGY,
    ) -> torch.Tensor:
        """Generate one video per prompt.

        Args:
            prompts: Action texts.
            generators: One CPU generator per prompt.
            images: float ``[B, 3, height, width]`` in [−1, 1] reference frames, or None
                (text-to-video).
            height, width, num_frames: Native video size (frames: 17·n).
            num_steps, guidance: Sampler settings.
            fps: Frame rate given to the model.
            aesthetic_score: Appended to the prompt (None: not).
            mask_strategy: Where the reference goes (upstream syntax; ``"0"``: frame 0).

        Returns:
            float32 ``[B, 3, num_frames, height, width]`` in about [−1, 1], on the CPU.
        """
        batch = len(prompts)
        if len(generators) != batch or (images is not None and images.shape[0] != batch):
            raise ValueError(f"OpenSoraPipeline: {batch} prompts, {len(generators)} generators, "
                             f"{None if images is None else images.shape[0]} images: give one of each per video")
        shape = self.latent_shape(height, width, num_frames)

        # 1. Encode the prompts.
        with self._on_device(self.captions.encoder):
            states, token_mask = self.captions.encode([prepare_prompt(p, aesthetic_score) for p in prompts], self.device)

        # 2. Encode the references (before the noise: upstream's order of random draws).
        references: list[torch.Tensor] = []
        if images is not None:
            with self._on_device(self.vae):
                for image, generator in zip(images, generators):
                    frame = image[None, :, None].to(self.device, self.dtype)
                    references.append(self.vae.encode(frame, generator=generator)[0].float())

        # 3. Initial noise, with the references written in.
        noise = [torch.randn(shape, generator=g) for g in generators]
        frame_mask = None
        if images is not None:
            placed = [apply_references(n, [r.cpu()], mask_strategy) for n, r in zip(noise, references)]
            noise = [p[0] for p in placed]
            frame_mask = torch.stack([p[1] for p in placed]).to(self.device)
        latents = torch.stack(noise).to(self.device)

        # 4. Denoise: conditional rows, then the null caption under the same token mask (upstream's CFG batch).
        null = self.transformer.null_caption[None].expand(batch, -1, -1).to(states.dtype)
        captions, caption_mask = torch.cat([states, null]), torch.cat([token_mask, token_mask])
        fps_values = torch.full((2 * batch,), float(fps), device=self.device)

        def denoise(z: torch.Tensor, t: torch.Tensor, frames: torch.Tensor | None) -> torch.Tensor:
            out = self.transformer(z, t, captions, caption_mask, fps=fps_values, height=height, width=width, frame_mask=frames).sample
            return out[:, : self.transformer.config.in_channels]

        def renoise(like: torch.Tensor) -> torch.Tensor:
            return torch.stack([torch.randn(like.shape[1:], generator=g) for g in generators]).to(like.device)

        sampler = RectifiedFlowSampler(num_steps=num_steps, guidance=guidance)
        with self._on_device(self.transformer), self._attention_context():
            latents = sampler.sample(denoise, latents, height, width, num_frames, frame_mask, renoise, dtype=self.dtype)

        # 5. Decode.
        with self._on_device(self.vae):
            video = self.vae.decode(latents.to(self.dtype), num_frames=num_frames)
        return video.float().cpu()


def build_tiny_checkpoints(folder: Any, seed: int = 0) -> None:
    """Write tiny random Open-Sora weights in the official files' layout (for tests and demos).

    ``folder`` gets ``stdit3.safetensors`` and ``vae.safetensors`` under the official
    key names (`adapters.opensora.convert.to_official`) and ``t5/``, a tiny transformers
    T5 encoder with an offline tokenizer, all built from `adapters.opensora.config`'s
    tiny configs.
    """
    from pathlib import Path

    from safetensors.torch import save_file
    from transformers import T5Config, T5EncoderModel

    from adapters.diffusers_video.tiny_text import tiny_t5_tokenizer
    from adapters.opensora.convert import STDIT3_RULES, VAE_RULES, to_official

    folder = Path(folder)
    torch.manual_seed(seed)
    transformer = STDiT3Model(**config.STDIT3_TINY)
    for name, parameter in transformer.named_parameters():
        # Zero-initialized tables would make every block the identity; give them values.
        if "scale_shift_table" in name:
            parameter.data.normal_(0, 0.1)
    vae = OpenSoraVAE.from_configs(config.SPATIAL_VAE_TINY, config.TEMPORAL_VAE_TINY)
    save_file({k: v.contiguous() for k, v in to_official(transformer.state_dict(), STDIT3_RULES, "tiny STDiT3").items()},
              str(folder / "stdit3.safetensors"))
    save_file({k: v.contiguous() for k, v in to_official(vae.state_dict(), VAE_RULES, "tiny VAE").items()},
              str(folder / "vae.safetensors"))
    tokenizer = tiny_t5_tokenizer()
    t5 = T5EncoderModel(T5Config(vocab_size=len(tokenizer), **config.T5_TINY))
    t5.save_pretrained(folder / "t5")
    tokenizer.save_pretrained(folder / "t5")

