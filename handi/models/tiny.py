"""Tiny HANDI components: small enough to train on a CPU, same code paths as the published model.

The tiny model generates at 64² (8² latents), so that all of its training fits in
minutes on a 2-core CPU, and the adapter fits its frames to the benchmark's 256²; its text encoder is a 2-layer, 32-wide CLIP text model over the real
CLIP BPE vocabulary (`handi.text.clip_bpe_tokenizer`).
"""

from __future__ import annotations

from typing import Any

from handi.models.vae import build_vae, tiny_vae_config

TINY_SIZE = (64, 64)


def tiny_demo_unet_config() -> dict[str, Any]:
    """`handi.models.configs.tiny_unet_config` at the tiny size's latents (8² for 64² frames)."""
    from handi.models.configs import tiny_unet_config

    return {**tiny_unet_config(), "sample_size": TINY_SIZE[0] // 8}


def scheduler_config(rescale_zero_terminal_snr: bool = False) -> dict[str, Any]:
    """SD / ModelScope's noise schedule with DPM-Solver++ (order 2) for sampling (paper §3)."""
    return dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                prediction_type="epsilon", algorithm_type="dpmsolver++", solver_order=2,
                rescale_betas_zero_snr=rescale_zero_terminal_snr)


def build_tiny_pipeline(seed: int = 0) -> Any:
    """A `HandiPipeline` of tiny random components (VAE, CLIP text, stage-1 and stage-2 UNets)."""
    import torch
    from diffusers import DPMSolverMultistepScheduler

    from handi.models.unet import HandiUNet3DConditionModel
    from handi.pipeline import HandiPipeline
    from handi.text import clip_bpe_tokenizer, tiny_text_encoder

    torch.manual_seed(seed)
    vae = build_vae(tiny_vae_config())
    text_encoder = tiny_text_encoder(seed)
    unet = HandiUNet3DConditionModel(**tiny_demo_unet_config())
    # Stage 1 is not conditioned on a motion strength (its targets are masks, not motion).
    mask_unet = HandiUNet3DConditionModel(**{**tiny_demo_unet_config(), "motion_strength": False})
    scheduler = DPMSolverMultistepScheduler(**scheduler_config())
    return HandiPipeline(vae=vae, text_encoder=text_encoder, tokenizer=clip_bpe_tokenizer(), scheduler=scheduler,
                         unet=unet, mask_unet=mask_unet)
