"""The VAE of HANDI: Stable Diffusion's `AutoencoderKL`, published and tiny configs.

HANDI encodes every frame with SD-1.5's VAE (paper §3, "Training"; latents scaled
by 0.18215) and decodes masks and videos with it. The released checkpoints carry it
as their ``vae/`` folder; the tiny config is for the demo model and the tests.
"""

from __future__ import annotations

from typing import Any

#: SD-1.5's latent scale: latents are multiplied by it after encoding.
LATENT_SCALE = 0.18215
#: Spatial downsampling of the SD VAE (3 stride-2 stages); the tiny VAE keeps it.
LATENT_FACTOR = 8


def published_vae_config() -> dict[str, Any]:
    """SD-1.5's `AutoencoderKL` config (the ``vae/config.json`` of the released weights)."""
    return dict(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=512,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32,
        act_fn="silu", scaling_factor=LATENT_SCALE,
    )


def tiny_vae_config() -> dict[str, Any]:
    """A 4-block, 8x-downsampling `AutoencoderKL` small enough to train on a CPU in minutes."""
    return dict(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=128,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 32, 32), layers_per_block=1, norm_num_groups=8,
        act_fn="silu", scaling_factor=LATENT_SCALE,
    )


def build_vae(config: dict[str, Any]) -> Any:
    """An `AutoencoderKL` with random weights from a config dict."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(**config)
