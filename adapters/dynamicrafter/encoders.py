"""The frozen OpenCLIP ViT-H/14 towers DynamiCrafter conditions on, as one ``open_clip.CLIP``.

- **Text**: the prompt's 77 token features from the *penultimate* layer of the text
  transformer, then the final LayerNorm (``FrozenOpenCLIPEmbedder(layer="penultimate")``,
  as Stable Diffusion 2 uses it); no pooling, no projection.
- **Image**: all 257 tokens (class + 16x16 patches) of the vision transformer's last
  layer, before ``ln_post`` and the projection (``FrozenOpenCLIPImageEmbedderV2``), from
  the context frame resized to 224 with kornia's antialiased bicubic resize
  (reproduced in `antialiased_resize`) and CLIP's normalization.

DynamiCrafter's checkpoint carries both towers (frozen copies of ``laion2b_s32b_b79k``),
so no separate OpenCLIP file is needed.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _gaussian_kernel(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    if size % 2 == 0:
        x = x + 0.5
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def antialiased_resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize (``align_corners=True``) after a Gaussian blur when shrinking, as kornia's ``resize(antialias=True)``.

    The blur's sigma is ``(factor - 1) / 2`` per axis (at least 0.001) and its kernel
    ``max(4 * sigma, 3)`` taps made odd, with reflect padding: kornia 0.6-0.9's rule,
    which upstream's image embedder calls.

    Args:
        images: float ``[B, C, H, W]``.
        size: Output (h, w).

    Returns:
        float ``[B, C, h, w]``.
    """
    h, w = images.shape[-2:]
    factors = (h / size[0], w / size[1])
    if max(factors) > 1:
        sigmas = tuple(max((f - 1.0) / 2.0, 0.001) for f in factors)
        taps = [int(max(4.0 * s, 3)) for s in sigmas]
        taps = [t if t % 2 else t + 1 for t in taps]
        taps = [1 if n == 1 else t for n, t in zip((h, w), taps)]
        channels = images.shape[1]
        ky = _gaussian_kernel(taps[0], sigmas[0], images.dtype, images.device)
        kx = _gaussian_kernel(taps[1], sigmas[1], images.dtype, images.device)
        padded = F.pad(images, (taps[1] // 2, taps[1] // 2, taps[0] // 2, taps[0] // 2), mode="reflect")
        padded = F.conv2d(padded, ky.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
        images = F.conv2d(padded, kx.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.interpolate(images, size=size, mode="bicubic", align_corners=True)


class OpenCLIPConditioner(nn.Module):
    """Text and image features of one ``open_clip.CLIP`` (ViT-H/14 at the published size).

    Args:
        clip: The CLIP model (both towers).
    """

    def __init__(self, clip: nn.Module):
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def image_size(self) -> int:
        size = self.clip.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        """long ``[B, 77]`` token ids (open_clip's BPE tokenizer; truncated, EOT-terminated, zero-padded)."""
        import open_clip

        return open_clip.tokenize(list(prompts), context_length=self.clip.context_length)

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """float ``[B, 77, width]``: the penultimate layer's token features, after ``ln_final``."""
        clip = self.clip
        tokens = self.tokenize(prompts).to(clip.token_embedding.weight.device)
        x = clip.token_embedding(tokens) + clip.positional_embedding
        transformer = clip.transformer
        if not transformer.batch_first:
            x = x.transpose(0, 1)
        for block in transformer.resblocks[:-1]:
            x = block(x, attn_mask=clip.attn_mask)
        if not transformer.batch_first:
            x = x.transpose(0, 1)
        return clip.ln_final(x)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Images float ``[B, 3, H, W]`` in [-1, 1] → tokens float ``[B, 1 + patches, vision width]``."""
        visual = self.clip.visual
        dtype = visual.conv1.weight.dtype
        x = antialiased_resize(images.float(), (self.image_size, self.image_size))
        x = (((x + 1.0) / 2.0) - self.mean) / self.std
        return visual.transformer(visual._embeds(x.to(dtype)))
