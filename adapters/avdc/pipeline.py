"""AVDC inference: text → CLIP tokens, noise → frames through `AVDCDiffusion` and the UNet.

Also the one weights-folder format the adapter loads and ``hcvg train avdc`` writes::

    FOLDER/unet/            AVDCUNet3D.save_pretrained (config.json + safetensors)
    FOLDER/avdc.json        {"variant", "height", "width", "frames"}: the native shape it was trained at
    FOLDER/text_encoder/    optional: a CLIPTextModel (tiny models bring their own)
    FOLDER/tokenizer/       optional: its CLIPTokenizer
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from adapters.avdc.sampler import AVDCDiffusion
from adapters.avdc.unet import AVDCUNet3D

FOLDER_MANIFEST = "avdc.json"
#: The authors tokenize with ``max_length=128``; CLIP's context is 77, the effective cut.
TOKENIZER_MAX_LENGTH = 128


@dataclass(frozen=True)
class NativeShape:
    """What a weights folder was trained at (read from ``avdc.json``)."""

    variant: str
    height: int
    width: int
    frames: int

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "height": self.height, "width": self.width, "frames": self.frames}


def save_avdc_folder(folder: str | Path, unet: AVDCUNet3D, shape: NativeShape, text_encoder: Any = None, tokenizer: Any = None) -> Path:
    """Write the weights folder the `avdc` adapter loads with ``weights=FOLDER``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(folder / "unet")
    if text_encoder is not None:
        text_encoder.save_pretrained(folder / "text_encoder")
    if tokenizer is not None:
        tokenizer.save_pretrained(folder / "tokenizer")
    (folder / FOLDER_MANIFEST).write_text(json.dumps(shape.to_dict(), indent=1) + "\n")
    return folder


def read_native_shape(folder: str | Path) -> NativeShape:
    """The ``avdc.json`` of a weights folder.

    Raises:
        FileNotFoundError: If the folder lacks it (it is not an AVDC weights folder).
    """
    path = Path(folder) / FOLDER_MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an AVDC weights folder: no {FOLDER_MANIFEST} (write one with `hcvg train avdc`)")
    data = json.loads(path.read_text())
    return NativeShape(str(data["variant"]), int(data["height"]), int(data["width"]), int(data["frames"]))


def encode_text(tokenizer: Any, text_encoder: Any, prompt: str) -> torch.Tensor:
    """One prompt's CLIP last hidden state, as the authors' ``encode_batch_text`` gives it for a batch of one.

    Encoded alone, the prompt gets no padding, so its embedding does not depend on the
    other prompts of a batch (the text pooler has no padding mask).

    Returns:
        float ``[1, T, d]`` on the encoder's device, T = the prompt's token count.
    """
    limit = min(TOKENIZER_MAX_LENGTH, int(text_encoder.config.max_position_embeddings))
    ids = tokenizer([prompt], return_tensors="pt", padding=True, truncation=True, max_length=limit)
    ids = {k: v.to(text_encoder.device) for k, v in ids.items() if k in ("input_ids", "attention_mask")}
    return text_encoder(**ids).last_hidden_state


class AVDCPipeline:
    """The UNet, the frozen CLIP text encoder and its tokenizer, and the sampler.

    Args:
        unet: The denoiser.
        text_encoder: A transformers ``CLIPTextModel`` (frozen).
        tokenizer: Its ``CLIPTokenizer``.
    """

    def __init__(self, unet: AVDCUNet3D, text_encoder: Any, tokenizer: Any, diffusion: AVDCDiffusion | None = None):
        self.unet, self.text_encoder, self.tokenizer = unet, text_encoder, tokenizer
        self.diffusion = diffusion or AVDCDiffusion()

    @torch.no_grad()
    def __call__(self, context: torch.Tensor, prompts: Sequence[str], num_frames: int, steps: int, guidance: float,
                 generators: Sequence[torch.Generator]) -> torch.Tensor:
        """Generate ``num_frames`` frames after each context frame.

        Each element runs alone: batched convolutions round differently from single
        ones, and a batch must give the same videos as single calls.

        Args:
            context: float ``[B, 3, H, W]`` in [0, 1] at the native size.
            prompts: B texts.
            num_frames: F, frames to generate (the context is not among them).
            steps: Sampling steps: 100 = the authors' DDPM; fewer = DDIM.
            guidance: Classifier-free guidance weight w (0 = off, the authors' default).
            generators: One CPU generator per element: its start noise (and DDPM's
                step noise) comes from it alone.

        Returns:
            float ``[B, 3, F, H, W]`` in [0, 1] (clipped), on the CPU.
        """
        device, dtype = self.unet.device, self.unet.dtype
        b, _, height, width = context.shape
        if len(prompts) != b or len(generators) != b:
            raise ValueError(f"AVDCPipeline: {b} contexts, {len(prompts)} prompts, {len(generators)} generators")
        shape = (3, num_frames, height, width)
        videos = []
        for i, (prompt, generator) in enumerate(zip(prompts, generators)):
            cond = context[i : i + 1].to(device, dtype)
            text = encode_text(self.tokenizer, self.text_encoder, prompt).to(device, dtype)
            null_text = text * 0.0  # the authors' unconditional branch: the embedding times zero

            def denoise(x: torch.Tensor, t: torch.Tensor, conditional: bool) -> torch.Tensor:
                return self.unet(x.to(dtype), t, cond, text if conditional else null_text).sample.float()

            def step_noise() -> torch.Tensor:
                return torch.randn(shape, generator=generator)[None].to(device)

            start = torch.randn(shape, generator=generator)[None].to(device)
            frames = self.diffusion.sample(denoise, start, steps, guidance, step_noise=step_noise)
            videos.append(frames[0].clamp(0, 1).cpu())
        return torch.stack(videos)
