"""`ImageResampler`: OpenCLIP image tokens → a few context tokens per frame (48.8 M at 256).

A Perceiver resampler (Flamingo; as IP-Adapter uses it): learned query latents attend,
layer after layer, to the image tokens and to themselves, then are projected to the
UNet's context width. DynamiCrafter learns ``num_queries`` latents *per frame*
(``video_length * num_queries`` in all), so each frame gets its own view of the one
context image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PerceiverAttention(nn.Module):
    """Queries from the latents; keys and values from the image tokens and the latents together."""

    def __init__(self, dim: int, dim_head: int, heads: int):
        super().__init__()
        inner = dim_head * heads
        self.heads = heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """media ``[B, N, dim]``, latents ``[B, Q, dim]`` → ``[B, Q, dim]``."""
        media, latents = self.norm_media(media), self.norm_latents(latents)
        b, q_len, _ = latents.shape
        query = self.to_q(latents)
        key, value = self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1)
        q, k, v = (t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2) for t in (query, key, value))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, q_len, -1))


class ResamplerFeedForward(nn.Module):
    """LayerNorm, Linear (no bias), GELU, Linear (no bias)."""

    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj_in = nn.Linear(dim, dim * mult, bias=False)
        self.proj_out = nn.Linear(dim * mult, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_out(F.gelu(self.proj_in(self.norm(x))))


class ResamplerLayer(nn.Module):
    def __init__(self, dim: int, dim_head: int, heads: int, ff_mult: int):
        super().__init__()
        self.attn = PerceiverAttention(dim, dim_head, heads)
        self.ff = ResamplerFeedForward(dim, ff_mult)


class ImageResampler(ModelMixin, ConfigMixin):
    """DynamiCrafter's ``image_proj_model``.

    Args:
        dim: Width of the latents (1024).
        depth: Layers (4).
        dim_head: Channels per head (64).
        heads: Heads (12).
        num_queries: Latents per frame (16).
        embedding_dim: Width of the image tokens (1280, OpenCLIP ViT-H/14's).
        output_dim: Width of the output tokens, the UNet's context width (1024).
        ff_mult: Feed-forward expansion (4).
        video_length: Frames with their own latents (16); None: one set for all.
    """

    @register_to_config
    def __init__(self, dim: int = 1024, depth: int = 4, dim_head: int = 64, heads: int = 12, num_queries: int = 16,
                 embedding_dim: int = 1280, output_dim: int = 1024, ff_mult: int = 4, video_length: int | None = 16):
        super().__init__()
        total = num_queries * (video_length or 1)
        self.latents = nn.Parameter(torch.randn(1, total, dim) / dim**0.5)
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.layers = nn.ModuleList([ResamplerLayer(dim, dim_head, heads, ff_mult) for _ in range(depth)])
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)

    def forward(self, image_tokens: torch.Tensor) -> torch.Tensor:
        """Image tokens float ``[B, N, embedding_dim]`` → context tokens ``[B, video_length*num_queries, output_dim]``.

        The output is frame-major: tokens ``[f*num_queries, (f+1)*num_queries)`` belong to frame f.
        """
        media = self.proj_in(image_tokens.to(self.proj_in.weight.dtype))
        latents = self.latents.expand(media.shape[0], -1, -1)
        for layer in self.layers:
            latents = layer.attn(media, latents) + latents
            latents = layer.ff(latents) + latents
        return self.norm_out(self.proj_out(latents))
