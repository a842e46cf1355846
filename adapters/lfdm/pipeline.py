"""`LFDMPipeline`: condition frame + text → video, as the authors' ``sample_one_video`` does.

1. Embed the text with BERT (masked mean, `adapters.lfdm.text`).
2. Encode the condition frame with the LFAE generator's encoder: its bottleneck
   features (256 × 32² at 128²) condition the diffusion.
3. Sample a flow + occlusion video (``[B, 3, F, 32, 32]``) with the 3D UNet: the
   ancestral sampler for all 1000 steps (the demos), DDIM for fewer.
4. Warp: for every frame, the generator warps the condition frame's features by the
   sampled flow, masks them by the occlusion (mapped from [-1, 1] to [0, 1]) and
   decodes the frame.

The weights folder (`save_pretrained` / `from_pretrained`) holds ``lfdm_config.json``,
``lfae.safetensors``, ``unet/`` (a diffusers model folder) and optionally
``text_encoder/`` (a transformers BERT folder with its vocabulary).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from adapters.lfdm.config import LFDMConfig
from adapters.lfdm.lfae import LatentFlowAutoencoder
from adapters.lfdm.sampler import NoiseSchedule, sample
from adapters.lfdm.text import bert_embed
from adapters.lfdm.unet import FlowUNet3DModel

CONFIG_FILE = "lfdm_config.json"
LFAE_FILE = "lfae.safetensors"


class LFDMPipeline:
    """The LFDM components and their one call.

    Attributes:
        config: The model's config.
        lfae: The latent flow autoencoder (only its generator runs at inference).
        unet: The flow diffusion UNet.
        text_encoder: BERT, or None until set (it may be shared between adapters).
        tokenizer: Its tokenizer.
    """

    def __init__(self, config: LFDMConfig, lfae: LatentFlowAutoencoder, unet: FlowUNet3DModel, text_encoder: Any = None, tokenizer: Any = None):
        self.config, self.lfae, self.unet = config, lfae, unet
        self.text_encoder, self.tokenizer = text_encoder, tokenizer
        self.schedule = NoiseSchedule(config.diffusion.timesteps)
        #: Frames decoded per generator call in step 4.
        self.frames_per_call = 16

    # -- building ------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: LFDMConfig) -> "LFDMPipeline":
        """Randomly initialised networks (for training from scratch and tests); no text encoder."""
        import dataclasses

        return cls(config, LatentFlowAutoencoder(config.lfae).eval(), FlowUNet3DModel(**dataclasses.asdict(config.unet)).eval())

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "LFDMPipeline":
        """Load a folder written by `save_pretrained` (the text encoder is loaded separately).

        Raises:
            FileNotFoundError: Naming the missing file and what writes it.
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        for name in (CONFIG_FILE, LFAE_FILE, "unet/config.json"):
            if not (folder / name).is_file():
                raise FileNotFoundError(
                    f"LFDM weights folder {folder}: no {name}; pass a folder written by LFDMPipeline.save_pretrained "
                    "(e.g. by `hcvg train lfdm`), or the released files as lfae=... dm=..."
                )
        config = LFDMConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
        lfae = LatentFlowAutoencoder(config.lfae)
        lfae.load_state_dict(load_file(str(folder / LFAE_FILE)), strict=True)
        unet = FlowUNet3DModel.from_pretrained(folder / "unet")
        return cls(config, lfae.eval(), unet.eval())

    def save_pretrained(self, folder: str | Path) -> None:
        """Write the config, LFAE, UNet and (if set) the text encoder with its vocabulary."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=1) + "\n")
        save_file({k: v.detach().contiguous().cpu() for k, v in self.lfae.state_dict().items()}, str(folder / LFAE_FILE))
        self.unet.save_pretrained(folder / "unet")
        if self.text_encoder is not None:
            self.text_encoder.save_pretrained(folder / "text_encoder")
            self.tokenizer.save_pretrained(folder / "text_encoder")

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "LFDMPipeline":
        """Move the LFAE and UNet (the text encoder is placed by whoever built it)."""
        # Only a real dtype change is passed on (diffusers warns on any dtype given to .to()).
        if dtype is not None and dtype == next(self.unet.parameters()).dtype:
            dtype = None
        self.lfae.to(device=device, dtype=dtype)
        self.unet.to(device=device, dtype=dtype)
        return self

    # -- the call --------------------------------------------------------------------
    def __call__(
        self,
        images: torch.Tensor,
        prompts: list[str],
        generators: list[torch.Generator],
        num_frames: int | None = None,
        steps: int | None = None,
        cond_scale: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Generate videos.

        Args:
            images: float ``[B, 3, S, S]`` RGB in [0, 1], S = ``config.image_size``.
            prompts: B texts.
            generators: One CPU generator per video (its noise stream).
            num_frames: Frames to generate (default ``config.num_frames``); frame 0
                reconstructs the condition frame, as in training.
            steps: Sampling steps (default ``config.sampling_steps``).
            cond_scale: Guidance scale (default ``config.cond_scale``).
            progress: Called with (step done, total).

        Returns:
            float ``[B, F, 3, S, S]`` in [0, 1] on the CPU.

        Raises:
            ValueError: If the images are not ``[B, 3, S, S]`` or the counts differ.
            RuntimeError: If no text encoder is set.
        """
        config = self.config
        size = config.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"LFDMPipeline: images must be [B, 3, {size}, {size}]; got {tuple(images.shape)}")
        if not len(prompts) == len(generators) == images.shape[0]:
            raise ValueError(f"LFDMPipeline: {images.shape[0]} images, {len(prompts)} prompts, {len(generators)} generators")
        if self.text_encoder is None:
            raise RuntimeError("LFDMPipeline: no text encoder set (the adapter sets a shared BERT in load())")
        parameter = next(self.unet.parameters())
        device, dtype = parameter.device, parameter.dtype
        frames = num_frames or config.num_frames
        with torch.no_grad():
            # 1. Text.
            text = bert_embed(self.text_encoder, self.tokenizer, prompts).to(device=device, dtype=dtype)
            # 2. Condition-frame features.
            images = images.to(device=device, dtype=dtype)
            features = self.lfae.generator.compute_features(images)
            feature_video = features[:, :, None].expand(-1, -1, frames, -1, -1)

            def denoise(x: torch.Tensor, t: torch.Tensor, drop: bool) -> torch.Tensor:
                drop_text = torch.full((x.shape[0],), drop, dtype=torch.bool, device=device)
                return self.unet(torch.cat((x, feature_video), dim=1), t, text, drop_text)

            # 3. Flow + occlusion video.
            shape = (images.shape[0], 3, frames, config.flow_size, config.flow_size)
            latents = sample(self.schedule, config.diffusion, denoise, shape, steps or config.sampling_steps,
                             config.cond_scale if cond_scale is None else cond_scale, generators, device, dtype, progress)
            latents = latents.to(dtype)
            flow, occlusion = latents[:, :2], (latents[:, 2:3] + 1) * 0.5
            # 4. Warp the condition frame by each frame's flow; frames are batched (in chunks,
            # to bound memory), which upstream does one at a time with the same result.
            b = images.shape[0]
            out = []
            for start in range(0, frames, self.frames_per_call):
                n = min(self.frames_per_call, frames - start)
                chunk_flow = flow[:, :, start : start + n].permute(0, 2, 3, 4, 1).reshape(b * n, *flow.shape[3:], 2)
                chunk_occlusion = occlusion[:, :, start : start + n].transpose(1, 2).reshape(b * n, 1, *occlusion.shape[3:])
                source = images[:, None].expand(b, n, *images.shape[1:]).reshape(b * n, *images.shape[1:])
                out.append(self.lfae.generator.forward_with_flow(source, chunk_flow, chunk_occlusion)["prediction"].view(b, n, *images.shape[1:]))
        return torch.cat(out, dim=1).float().cpu()
