"""Configs of HANDI's noise predictor, as plain dicts of `HandiUNet3DConditionModel` arguments.

`published_unet_config()` is the released model's (`unet/config.json` of the AnimateAnything
and HANDI checkpoints); `tiny_unet_config()` builds the same architecture small enough for
tests on a CPU. Build either with `HandiUNet3DConditionModel.from_config(config)`.

No torch here: the configs are data, so listing or writing them costs no model import.
"""

from __future__ import annotations

from typing import Any


def published_unet_config() -> dict[str, Any]:
    """The released noise predictor's config (1,413.4 M parameters).

    ModelScope's `damo-vilab/text-to-video-ms-1.7b` `unet/config.json`, plus the two switches
    AnimateAnything's `example/train_mask_motion.yaml` turns on (and HANDI keeps): the motion
    mask through `conv_in2` and the motion strength through `time_embedding.cond_proj`.

    Returns:
        A fresh dict of constructor arguments (the caller may change it).
    """
    return {
        "sample_size": 32,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D"],
        "up_block_types": ["UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"],
        "block_out_channels": [320, 640, 1280, 1280],
        "layers_per_block": 2,
        "downsample_padding": 1,
        "mid_block_scale_factor": 1,
        "act_fn": "silu",
        "norm_num_groups": 32,
        "norm_eps": 1e-05,
        "cross_attention_dim": 1024,  # OpenCLIP ViT-H/14 text hidden size
        "attention_head_dim": 64,
        "motion_mask": True,
        "motion_strength": True,
    }


def tiny_unet_config() -> dict[str, Any]:
    """The published architecture at toy width: one plain and one cross-attention level.

    A forward over 16 frames of 32x32 latents runs on a CPU in about half a second. The
    cross-attention level is the lower-resolution one (16x16), unlike the published order:
    spatial self-attention over 32x32 tokens would take most of the time.
    `norm_num_groups` stays 32, as published: AnimateAnything's code fixes 32 groups in
    `transformer_in` (and its diffusers 0.24 temporal convolutions), so only 32 makes this
    model and the upstream one compute the same function (tests/test_handi_unet.py's parity).

    Returns:
        A fresh dict of constructor arguments; `cross_attention_dim` is 32, the hidden size
        of the tests' tiny CLIP text encoder.
    """
    return {
        "sample_size": 32,
        "in_channels": 4,
        "out_channels": 4,
        "down_block_types": ["DownBlock3D", "CrossAttnDownBlock3D"],
        "up_block_types": ["CrossAttnUpBlock3D", "UpBlock3D"],
        "block_out_channels": [32, 64],
        "layers_per_block": 1,
        "downsample_padding": 1,
        "mid_block_scale_factor": 1,
        "act_fn": "silu",
        "norm_num_groups": 32,
        "norm_eps": 1e-05,
        "cross_attention_dim": 32,
        "attention_head_dim": 8,
        "motion_mask": True,
        "motion_strength": True,
    }
