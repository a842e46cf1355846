"""A tiny AVDC with random weights, built offline: for tests and the demo-split training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.avdc.config import get_variant


def tiny_unet(seed: int = 0, variant: str = "tiny") -> Any:
    """`AVDCUNet3D` at a variant's config with seeded random weights (the global RNG is left as it was)."""
    import torch

    from adapters.avdc.unet import AVDCUNet3D

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AVDCUNet3D(**get_variant(variant).unet)


def tiny_text() -> tuple[Any, Any]:
    """(tiny random CLIPTextModel with 32 features, CLIP's real BPE tokenizer padding with EOS like openai's)."""
    from adapters.diffusers_video.tiny_text import clip_tokenizer
    from handi.text import tiny_text_encoder

    return tiny_text_encoder(seed=0), clip_tokenizer(pad_token="<|endoftext|>")


class _TinyFolder:
    """What `tiny_pipeline_folder` saves: the AVDC weights-folder layout."""

    def save_pretrained(self, folder: str) -> None:
        from adapters.avdc.pipeline import NativeShape, save_avdc_folder

        variant = get_variant("tiny")
        encoder, tokenizer = tiny_text()
        save_avdc_folder(folder, tiny_unet(0), NativeShape("tiny", *variant.size, variant.frames), encoder, tokenizer)


def tiny_weights_folder() -> Path:
    """The tiny weights folder, saved once per machine and library versions, then reused."""
    from adapters.avdc.pipeline import FOLDER_MANIFEST
    from adapters.diffusers_video.base import tiny_pipeline_folder

    return tiny_pipeline_folder("AVDCTiny", _TinyFolder, marker=FOLDER_MANIFEST)
