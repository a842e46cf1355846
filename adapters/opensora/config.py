"""Open-Sora 1.2's published settings and the tiny test sizes, each value with its source.

Every published value is read from hpcaitech/Open-Sora at tag ``v1.2.0`` (commit
17cce908b22283acc3c946816c81f46dd442a453); the file is named beside each block.
"""

from __future__ import annotations

from typing import Any

#: The upstream release the port follows.
UPSTREAM_REPO = "hpcaitech/Open-Sora"
UPSTREAM_TAG = "v1.2.0"
UPSTREAM_COMMIT = "17cce908b22283acc3c946816c81f46dd442a453"

# -- the denoiser ----------------------------------------------------------------
# opensora/models/stdit/stdit3.py: `STDiT3_XL_2` (depth 28, hidden 1152, patch
# (1, 2, 2), 16 heads) over `STDiT3Config`'s defaults (mlp_ratio 4, pred_sigma True,
# input_sq_size 512); configs/opensora-v1-2/inference/sample.py sets qk_norm=True;
# scripts/inference.py passes in_channels = the VAE's 4, caption_channels = T5-XXL's
# d_model 4096 and model_max_length = 300.
STDIT3_XL_2: dict[str, Any] = dict(
    in_channels=4,
    hidden_size=1152,
    depth=28,
    num_heads=16,
    mlp_ratio=4.0,
    patch_size=(1, 2, 2),
    caption_channels=4096,
    caption_tokens=300,
    input_sq_size=512,
    learn_sigma=True,
)

#: A few-kilobyte denoiser with every kind of weight of the published one (two
#: blocks of each kind, head_dim 16 so rotary pairs and the 2-D sin-cos split work).
STDIT3_TINY: dict[str, Any] = dict(
    in_channels=4,
    hidden_size=32,
    depth=2,
    num_heads=2,
    mlp_ratio=4.0,
    patch_size=(1, 2, 2),
    caption_channels=16,
    caption_tokens=8,
    input_sq_size=512,
    learn_sigma=True,
)

# -- the VAE -----------------------------------------------------------------------
# opensora/models/vae/vae.py: `OpenSoraVAE_V1_2` (micro_frame_size 17, shift, scale,
# the spatial VAE from PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers/vae, i.e. the
# SDXL VAE); `VideoAutoencoderKL` scales latents by 0.18215 (not SDXL's 0.13025);
# opensora/models/vae/vae_temporal.py: `VAE_Temporal_SD`.
LATENT_SHIFT = (-0.10, 0.34, 0.27, 0.98)
LATENT_SCALE = (3.85, 2.32, 2.33, 3.06)
SPATIAL_SCALING = 0.18215
MICRO_FRAME_SIZE = 17
#: configs/opensora-v1-2/inference/sample.py `vae.micro_batch_size`: frames the 2-D VAE takes at once.
MICRO_BATCH_SIZE = 4

#: The SDXL VAE (diffusers `AutoencoderKL` config of pixart_sigma_sdxlvae_T5_diffusers/vae).
SDXL_VAE: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=32,
    sample_size=1024,
    scaling_factor=0.13025,
    force_upcast=True,
)
SPATIAL_VAE_TINY: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2,
    block_out_channels=(4, 8),
    layers_per_block=1,
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=4,
    sample_size=32,
)

# vae_temporal.py `VAE_Temporal_SD`: 4 latent channels in and out, 128 filters,
# multipliers (1, 2, 2, 4), 4 resnets a level, time halved after levels 2 and 3 (x4).
TEMPORAL_VAE: dict[str, Any] = dict(
    channels=4,
    filters=128,
    num_res_blocks=4,
    channel_multipliers=(1, 2, 2, 4),
    temporal_downsample=(False, True, True),
    num_groups=32,
)
TEMPORAL_VAE_TINY: dict[str, Any] = dict(
    channels=4,
    filters=8,
    num_res_blocks=1,
    channel_multipliers=(1, 2, 2, 2),
    temporal_downsample=(False, True, True),
    num_groups=4,
)

# -- sampling ----------------------------------------------------------------------
# configs/opensora-v1-2/inference/sample.py: rflow, use_timestep_transform=True,
# 30 steps, cfg 7.0; fps 24; aes 6.5 (appended to the prompt as "aesthetic score:
# 6.5."); multi_resolution "STDiT2" (the model gets height, width, frames, fps);
# opensora/schedulers/rf/__init__.py: num_timesteps 1000.
NUM_STEPS = 30
GUIDANCE = 7.0
NUM_TIMESTEPS = 1000
FPS = 24
AESTHETIC_SCORE = 6.5
#: opensora/datasets/aspect.py: the "256" bucket, aspect ratio "1:1" -> 256x256, and
#: NUM_FRAMES_MAP["2s"] = 51 = sample.py's num_frames (51 = 3 x the VAE's 17-frame chunk).
NATIVE_SIZE = (256, 256)
NATIVE_FRAMES = 51
#: opensora/schedulers/rf/rectified_flow.py `timestep_transform` defaults.
TRANSFORM_BASE_RESOLUTION = 512 * 512
TRANSFORM_BASE_FRAMES = 1
#: opensora/utils/inference_utils.py MASK_DEFAULT: a reference replaces latent frame 0
#: for 1 frame with edit ratio 0 (kept as given), the image-to-video setting.
IMAGE_MASK_STRATEGY = "0"

# -- text ----------------------------------------------------------------------------
# sample.py text_encoder: DeepFloyd/t5-v1_1-xxl, model_max_length 300.
T5_MAX_LENGTH = 300
#: Tiny T5 for tests (d_model = STDIT3_TINY caption_channels).
T5_TINY: dict[str, Any] = dict(d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2, relative_attention_num_buckets=8)
