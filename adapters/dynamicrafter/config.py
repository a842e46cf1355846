"""DynamiCrafter's configurations: the published 256 model and a tiny one for tests.

Every published value is read from upstream ``Doubiiu/DynamiCrafter`` at commit
c453369367122d7fbb0aa38f124e76dc8fe2a91c (`UPSTREAM_COMMIT`):

- the networks: ``configs/inference_256_v1.0.yaml`` (``unet_config``,
  ``image_proj_stage_config``, ``first_stage_config``, the schedule);
- OpenCLIP ViT-H/14 (``laion2b_s32b_b79k``): ``lvdm/modules/encoders/condition.py``
  (``FrozenOpenCLIPEmbedder(layer="penultimate")``, ``FrozenOpenCLIPImageEmbedderV2``),
  the architecture being open_clip's own ``ViT-H-14`` config;
- the sampling defaults: ``scripts/run.sh`` for the 256 model (DDIM 50 steps, eta 1.0,
  guidance 7.5, 16 frames, 256x256, ``--frame_stride 3``, ``--text_input``) and
  ``scripts/evaluation/inference.py`` (``uniform`` timestep spacing, no guidance rescale).

Plain dicts, because each is the keyword arguments of one constructor: the UNet and
the Resampler take them as their diffusers-style config, the VAE is diffusers'
``AutoencoderKL``, and the CLIP entry is ``open_clip.CLIP``'s ``embed_dim`` /
``vision_cfg`` / ``text_cfg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UPSTREAM_REPO = "https://github.com/Doubiiu/DynamiCrafter"
UPSTREAM_COMMIT = "c453369367122d7fbb0aa38f124e76dc8fe2a91c"

#: inference_256_v1.0.yaml, model.params.unet_config.params (use_checkpoint, dropout: training only).
PUBLISHED_UNET: dict[str, Any] = {
    "in_channels": 8,  # the noisy latent and the repeated first-frame latent, on channels
    "out_channels": 4,
    "model_channels": 320,
    "attention_resolutions": (4, 2, 1),
    "num_res_blocks": 2,
    "channel_mult": (1, 2, 4, 4),
    "num_head_channels": 64,
    "transformer_depth": 1,
    "context_dim": 1024,
    "init_attention_heads": 8,  # openaimodel3d.py builds init_attn with n_heads=8 whatever the config
    "text_context_len": 77,  # attention.py splits the context into 77 text tokens + image tokens
    "image_tokens_per_frame": 16,  # openaimodel3d.py: a context of 77 + T*16 tokens is per-frame
    "default_frame_stride": 3,  # default_fs
}

#: inference_256_v1.0.yaml, model.params.image_proj_stage_config.params (48.8 M parameters).
PUBLISHED_RESAMPLER: dict[str, Any] = {
    "dim": 1024,
    "depth": 4,
    "dim_head": 64,
    "heads": 12,
    "num_queries": 16,
    "embedding_dim": 1280,
    "output_dim": 1024,
    "ff_mult": 4,
    "video_length": 16,  # 16 queries per frame, for 16 frames
}

#: inference_256_v1.0.yaml first_stage_config (the SD VAE: ch 128, ch_mult 1,2,4,4, 2 res blocks), as diffusers' AutoencoderKL.
PUBLISHED_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 256,
    "scaling_factor": 0.18215,  # scale_factor
}

#: open_clip's ViT-H-14 config (embed_dim, vision_cfg, text_cfg), as open_clip 2.x and 3.x both ship it.
PUBLISHED_CLIP: dict[str, Any] = {
    "embed_dim": 1024,
    "vision_cfg": {"image_size": 224, "layers": 32, "width": 1280, "head_width": 80, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1024, "heads": 16, "layers": 24},
}

# A tiny model with every feature of the published one (image cross-attention, frame
# stride, the first-layer temporal attention, levels with and without attention), so
# tests run the same code paths in milliseconds. The upstream parity fixtures of
# tests/fixtures/parity/dynamicrafter/tiny_* were made at exactly these values.
TINY_UNET: dict[str, Any] = {
    **PUBLISHED_UNET,
    "model_channels": 32,
    "attention_resolutions": (1, 2),
    "channel_mult": (1, 2, 2),
    "num_head_channels": 16,
    "context_dim": 32,
}
TINY_RESAMPLER: dict[str, Any] = {
    "dim": 32, "depth": 2, "dim_head": 8, "heads": 4, "num_queries": 16, "embedding_dim": 48, "output_dim": 32,
    "ff_mult": 4, "video_length": 16,
}
TINY_VAE: dict[str, Any] = {
    **PUBLISHED_VAE,
    "down_block_types": ("DownEncoderBlock2D",) * 2,
    "up_block_types": ("UpDecoderBlock2D",) * 2,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 32,
}
TINY_CLIP: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 48, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


@dataclass(frozen=True)
class SamplingDefaults:
    """The authors' inference settings for the 256 model (scripts/run.sh, inference.py).

    Attributes:
        size: (H, W) in pixels.
        frames: Frames generated; frame 0 is the one conditioned on the context image.
        steps: DDIM steps (``uniform`` spacing: timesteps 1, 21, ..., 981).
        eta: DDIM eta (1.0: the ancestral variance, fresh noise every step).
        guidance: Classifier-free guidance scale, on text and image jointly: the
            unconditional branch has the empty prompt *and* the image embedding of an
            all-zero (mid-grey) image, but keeps the first-frame latent on channels.
        frame_stride: The 256 model's motion control (``--frame_stride 3``).
        beta_start, beta_end, train_steps: The ``linear`` (square-root-spaced) schedule.
    """

    size: tuple[int, int] = (256, 256)
    frames: int = 16
    steps: int = 50
    eta: float = 1.0
    guidance: float = 7.5
    frame_stride: int = 3
    beta_start: float = 0.00085
    beta_end: float = 0.012
    train_steps: int = 1000


PUBLISHED_SAMPLING = SamplingDefaults()


@dataclass(frozen=True)
class DynamiCrafterConfig:
    """One full model: the four networks' configs and the CLIP input size."""

    unet: dict[str, Any]
    resampler: dict[str, Any]
    vae: dict[str, Any]
    clip: dict[str, Any]

    @property
    def vae_scale(self) -> int:
        """Pixels per latent cell (8 for the SD VAE)."""
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def clip_image_size(self) -> int:
        return int(self.clip["vision_cfg"]["image_size"])


PUBLISHED = DynamiCrafterConfig(PUBLISHED_UNET, PUBLISHED_RESAMPLER, PUBLISHED_VAE, PUBLISHED_CLIP)
TINY = DynamiCrafterConfig(TINY_UNET, TINY_RESAMPLER, TINY_VAE, TINY_CLIP)
