"""Build an `OpenSoraPipeline` from the official files (converted on load) and a T5 folder.

The denoiser and the VAE are built on the ``meta`` device and take the checkpoint's
tensors directly (every tensor of theirs is in the file), so loading the 1.1 B
denoiser allocates its weights once. The T5 encoder comes from `shared_encoder`: two
adapters of one run on the same weights, dtype and device get one copy.
"""

from __future__ import annotations

from pathlib import Path

import torch

from adapters.opensora import config
from adapters.opensora.convert import convert_stdit3, convert_vae, load_into, read_checkpoint
from adapters.opensora.pipeline import OpenSoraPipeline
from adapters.opensora.stdit3 import STDiT3Model
from adapters.opensora.text import T5Captions
from adapters.opensora.vae import OpenSoraVAE, TemporalVAE
from adapters.shared_encoders import shared_encoder

#: model_config → (STDiT3, image VAE, temporal VAE) configs.
CONFIGS = {
    "published": (config.STDIT3_XL_2, config.SDXL_VAE, config.TEMPORAL_VAE),
    "tiny": (config.STDIT3_TINY, config.SPATIAL_VAE_TINY, config.TEMPORAL_VAE_TINY),
}


def load_transformer(path: Path, model_config: str = "published") -> STDiT3Model:
    """The denoiser with the official checkpoint's weights (float32 as stored, on the CPU)."""
    with torch.device("meta"):
        model = STDiT3Model(**CONFIGS[model_config][0])
    load_into(model, convert_stdit3(read_checkpoint(path)), f"{path}", assign=True)
    return model.eval().requires_grad_(False)


def load_vae(path: Path, model_config: str = "published", micro_batch_size: int = config.MICRO_BATCH_SIZE) -> OpenSoraVAE:
    """The video VAE with the official checkpoint's weights."""
    from diffusers.models.autoencoders import AutoencoderKL

    _, spatial, temporal = CONFIGS[model_config]
    with torch.device("meta"):
        vae = OpenSoraVAE(AutoencoderKL(**spatial), TemporalVAE(**temporal), micro_batch_size=micro_batch_size)
    load_into(vae, convert_vae(read_checkpoint(path)), f"{path}", assign=True)
    return vae.eval().requires_grad_(False)


def load_t5(folder: Path, dtype: torch.dtype, device: torch.device, max_length: int = config.T5_MAX_LENGTH) -> T5Captions:
    """T5 encoder (shared across adapters) and tokenizer from a transformers folder; captions of ``max_length`` tokens."""
    from transformers import AutoTokenizer, T5EncoderModel

    def build() -> torch.nn.Module:
        return T5EncoderModel.from_pretrained(str(folder), dtype=dtype).to(device).eval().requires_grad_(False)

    encoder = shared_encoder(("t5-v1_1-xxl", str(Path(folder).resolve()), str(dtype), str(device)), build)
    return T5Captions(encoder, AutoTokenizer.from_pretrained(str(folder)), max_length)


def load_pipeline(
    transformer: Path, vae: Path, text_encoder: Path, model_config: str, device: torch.device, dtype: torch.dtype, *,
    offload: str = "none", attention: str = "default", vae_micro_batch: int = config.MICRO_BATCH_SIZE,
    vae_tiling: bool = False, compile: bool = False, text_dtype: torch.dtype = torch.float32,
) -> OpenSoraPipeline:
    """Every component loaded and placed (see `OpenSoraPipeline.place`); the T5 in ``text_dtype``."""
    model = load_transformer(transformer, model_config)
    video_vae = load_vae(vae, model_config, vae_micro_batch)
    if vae_tiling:
        video_vae.spatial.enable_tiling()
    home = torch.device("cpu") if offload == "model" else device
    # The learned null caption fixes the caption length (300 tokens for the released model).
    captions = load_t5(text_encoder, text_dtype, home, model.config.caption_tokens)
    if captions.encoder.config.d_model != model.config.caption_channels:
        raise ValueError(
            f"Open-Sora: the text encoder in {text_encoder} has d_model {captions.encoder.config.d_model}, the denoiser in "
            f"{transformer} reads {model.config.caption_channels}-channel captions; pass the T5 v1.1 XXL folder"
        )
    pipe = OpenSoraPipeline(model, video_vae, captions, device, dtype, offload=offload, attention=attention).place()
    if compile:
        model.compile()
    return pipe
