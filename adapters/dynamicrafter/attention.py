"""DynamiCrafter's transformer layers: spatial (with image cross-attention) and temporal.

Both are the Stable Diffusion transformer block (self-attention, cross-attention,
GEGLU feed-forward, pre-LayerNorm) with two changes the paper makes:

- **Dual cross-attention** in the spatial layers: the context is 77 text tokens then
  image tokens (the Resampler's output); the queries attend to each separately and the
  image result is added with a learned gate, ``out_text + (tanh(alpha) + 1) * out_image``
  (alpha starts at 0, so the gate starts at 1).
- **Temporal layers** attend over the frames at each spatial position. Their second
  attention has no context either (``temporal_selfatt_only``), so both are
  self-attention, and their GroupNorm spans all frames of a video.

Attention itself is `attend`: torch's ``scaled_dot_product_attention``, or a diffusers
attention backend when one is set with `set_attention_backend`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from torch import nn


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int, backend: str | None) -> torch.Tensor:
    """Multi-head softmax attention with scale ``1/sqrt(head_dim)``.

    Args:
        query: float ``[N, Lq, heads*d]``.
        key, value: float ``[N, Lk, heads*d]``.
        heads: Number of heads.
        backend: None for torch's SDPA, else a diffusers ``AttentionBackendName`` value.

    Returns:
        float ``[N, Lq, heads*d]``.
    """
    n, lq, inner = query.shape
    d = inner // heads
    q, k, v = (t.reshape(n, t.shape[1], heads, d) for t in (query, key, value))
    if backend is None:
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    else:
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        out = dispatch_attention_fn(q, k, v, backend=backend)
    return out.reshape(n, lq, inner)


class Attention(nn.Module):
    """Self- or cross-attention, optionally with a second (image) key/value set.

    Args:
        query_dim: Channels of the queries.
        heads: Heads.
        dim_head: Channels per head.
        context_dim: Channels of the context (None: self-attention).
        image_cross_attention: Split the context at ``text_context_len`` and attend to
            the image part with its own projections ``to_k_ip`` / ``to_v_ip``.
        text_context_len: Text tokens at the start of the context (77).
    """

    def __init__(self, query_dim: int, heads: int, dim_head: int, context_dim: int | None = None,
                 image_cross_attention: bool = False, text_context_len: int = 77):
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or query_dim
        self.heads, self.text_context_len = heads, text_context_len
        self.image_cross_attention = image_cross_attention
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))
        if image_cross_attention:
            self.to_k_ip = nn.Linear(context_dim, inner, bias=False)
            self.to_v_ip = nn.Linear(context_dim, inner, bias=False)
            self.alpha = nn.Parameter(torch.zeros(()))
        self.backend: str | None = None

    def forward(self, hidden: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """hidden ``[N, L, query_dim]``, context ``[N, Lc, context_dim]`` or None → ``[N, L, query_dim]``."""
        query = self.to_q(hidden)
        if context is None:
            out = attend(query, self.to_k(hidden), self.to_v(hidden), self.heads, self.backend)
            return self.to_out(out)
        text = context[:, : self.text_context_len]
        out = attend(query, self.to_k(text), self.to_v(text), self.heads, self.backend)
        if self.image_cross_attention:
            image = context[:, self.text_context_len :]
            out_image = attend(query, self.to_k_ip(image), self.to_v_ip(image), self.heads, self.backend)
            out = out + out_image * (torch.tanh(self.alpha) + 1)
        return self.to_out(out)


class TransformerBlock(nn.Module):
    """Pre-norm attention, attention, GEGLU feed-forward, each residual.

    ``attn2`` is cross-attention when ``context_dim`` is given (spatial layers), else a
    second self-attention (temporal layers).
    """

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None, image_cross_attention: bool,
                 text_context_len: int = 77):
        super().__init__()
        self.cross = context_dim is not None
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, dim_head, context_dim, image_cross_attention, text_context_len)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")

    def forward(self, hidden: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.attn1(self.norm1(hidden)) + hidden
        hidden = self.attn2(self.norm2(hidden), context if self.cross else None) + hidden
        return self.ff(self.norm3(hidden)) + hidden


class SpatialTransformer(nn.Module):
    """Attention within each frame, over its h*w positions, with text and image context.

    Args:
        channels: Channels of the feature map.
        heads, dim_head: Attention heads and channels per head (inner = heads*dim_head).
        context_dim: Channels of the text / image tokens.
        image_cross_attention: Use the gated image cross-attention.
        text_context_len: Text tokens at the start of the context.
    """

    def __init__(self, channels: int, heads: int, dim_head: int, context_dim: int, image_cross_attention: bool = True,
                 text_context_len: int = 77):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList(
            [TransformerBlock(inner, heads, dim_head, context_dim, image_cross_attention, text_context_len)]
        )
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """hidden float ``[B*T, C, h, w]``, context ``[B*T, L, context_dim]`` → ``[B*T, C, h, w]``."""
        n, c, h, w = hidden.shape
        x = self.norm(hidden).permute(0, 2, 3, 1).reshape(n, h * w, c)
        x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context)
        x = self.proj_out(x)
        return x.reshape(n, h, w, c).permute(0, 3, 1, 2) + hidden


class TemporalTransformer(nn.Module):
    """Attention across the T frames at each spatial position (self-attention only).

    Args:
        channels: Channels of the feature map.
        heads, dim_head: Attention heads and channels per head; inner may differ from
            ``channels`` (the first-layer temporal attention is 8 x 64 on 320 channels).
    """

    def __init__(self, channels: int, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(inner, heads, dim_head, None, False)])
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, hidden: torch.Tensor, num_frames: int) -> torch.Tensor:
        """hidden float ``[B*T, C, h, w]`` (frames of a video consecutive) → same shape."""
        bt, c, h, w = hidden.shape
        b = bt // num_frames
        # GroupNorm over (channels of a group, T, h, w): the statistics span the whole clip.
        video = hidden.reshape(b, num_frames, c, h, w).permute(0, 2, 1, 3, 4)
        x = self.norm(video).permute(0, 3, 4, 2, 1).reshape(b * h * w, num_frames, c)
        x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x)
        x = self.proj_out(x)
        x = x.reshape(b, h, w, num_frames, c).permute(0, 3, 4, 1, 2).reshape(bt, c, h, w)
        return x + hidden
