"""AVDC's denoiser: a pixel-space 3D UNet conditioned on the first frame and on CLIP text.

The network of AVDC (Ko et al. 2023, "Learning to Act from Actionless Videos through
Dense Correspondences", §3.1): guided-diffusion's UNet made 3D by factorized
convolutions (a 2D convolution per frame, then a 1D convolution over time), with
self-attention inside each frame. The condition frame is repeated over time and
concatenated to the noisy frames along channels; the text is pooled by a Perceiver
resampler into a vector added to the timestep embedding. Built from the released
configurations (`adapters.avdc.config.VARIANTS`); the official checkpoints load
through `adapters.avdc.convert`.

Input quirk kept from the authors' code: the noisy frames are in [-1, 1] (the
diffusion normalizes them) but the condition frame enters in [0, 1], as their datasets
return it and their sampler passes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

#: guided-diffusion's normalization: GroupNorm with 32 groups everywhere.
GROUPS = 32


class FactorizedConv3d(nn.Module):
    """A 2D convolution applied to every frame, then a 1D convolution over time.

    With ``kernel_size == 1`` only the per-frame convolution exists (a channel mix).
    The temporal convolution is zero-padded (not causal) and starts as the identity.

    Args:
        in_channels / out_channels: Channel counts.
        kernel_size: Spatial and temporal kernel size.
        stride: Spatial stride (time is never strided).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.spatial = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
        self.temporal = None
        if kernel_size > 1:
            self.temporal = nn.Conv1d(out_channels, out_channels, kernel_size, padding=kernel_size // 2)
            nn.init.dirac_(self.temporal.weight)
            nn.init.zeros_(self.temporal.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float ``[B, C, F, H, W]`` → ``[B, C', F, H', W']``."""
        b, _, f = x.shape[:3]
        h = self.spatial(x.transpose(1, 2).flatten(0, 1)).unflatten(0, (b, f))  # [B, F, C', H', W']
        if self.temporal is None:
            return h.transpose(1, 2)
        _, _, c, height, width = h.shape
        t = self.temporal(h.permute(0, 3, 4, 2, 1).reshape(b * height * width, c, f))
        return t.reshape(b, height, width, c, f).permute(0, 3, 4, 1, 2)


class ResnetBlock3D(nn.Module):
    """guided-diffusion's residual block (no scale-shift norm) on factorized 3D convolutions."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(GROUPS, in_channels)
        self.conv1 = FactorizedConv3d(in_channels, out_channels)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(GROUPS, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = FactorizedConv3d(out_channels, out_channels)
        self.conv_shortcut = FactorizedConv3d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """``x`` float ``[B, C, F, H, W]``, ``temb`` ``[B, temb_channels]`` → ``[B, C_out, F, H, W]``."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class FrameSelfAttention(nn.Module):
    """Multi-head self-attention among the pixels of each frame (frames do not attend to each other)."""

    def __init__(self, channels: int, head_channels: int):
        super().__init__()
        if channels % head_channels:
            raise ValueError(f"FrameSelfAttention: channels {channels} is not a multiple of head_channels {head_channels}")
        self.heads = channels // head_channels
        self.norm = nn.GroupNorm(GROUPS, channels)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float ``[B, C, F, H, W]`` → same shape (residual)."""
        b, c, f, height, width = x.shape
        # Normalized per frame, as the authors' block normalizes the (B·F, C, H·W) view.
        frames = x.transpose(1, 2).reshape(b * f, c, height * width)
        tokens = self.norm(frames).transpose(1, 2)  # [B·F, N, C]
        q, k, v = (proj(tokens).unflatten(-1, (self.heads, -1)).transpose(1, 2) for proj in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = self.to_out(out.transpose(1, 2).flatten(2))
        return (frames + out.transpose(1, 2)).reshape(b, f, c, height, width).transpose(1, 2)


class Upsample3D(nn.Module):
    """Nearest ×2 in space (not time), then a factorized convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = FactorizedConv3d(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, height, width = x.shape[2:]
        return self.conv(F.interpolate(x, (f, height * 2, width * 2), mode="nearest"))


class PerceiverAttention(nn.Module):
    """Latents attend to the text tokens and to themselves (Flamingo / Imagen resampler).

    Queries and keys are l2-normalized per head and scaled by learned per-feature gains,
    and the similarities by a fixed 8.
    """

    def __init__(self, dim: int, heads: int, head_dim: int, scale: float = 8.0):
        super().__init__()
        inner = heads * head_dim
        self.heads, self.scale = heads, scale
        self.norm_text = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.q_scale = nn.Parameter(torch.ones(head_dim))
        self.k_scale = nn.Parameter(torch.ones(head_dim))
        self.out_proj = nn.Linear(inner, dim, bias=False)
        self.out_norm = nn.LayerNorm(dim)

    def forward(self, text: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """``text`` ``[B, T, D]``, ``latents`` ``[B, N, D]`` → ``[B, N, D]`` (the update, not residual)."""
        text, latents = self.norm_text(text), self.norm_latents(latents)
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat([text, latents], dim=1)).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        q = F.normalize(q, dim=-1) * self.q_scale
        k = F.normalize(k, dim=-1) * self.k_scale
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.out_norm(self.out_proj(out.transpose(1, 2).flatten(2)))


class PerceiverFeedForward(nn.Module):
    """LayerNorm → Linear ×mult → GELU → LayerNorm → Linear, without biases."""

    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.norm_in = nn.LayerNorm(dim, bias=False)
        self.proj_in = nn.Linear(dim, dim * mult, bias=False)
        self.norm_hidden = nn.LayerNorm(dim * mult, bias=False)
        self.proj_out = nn.Linear(dim * mult, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_out(self.norm_hidden(F.gelu(self.proj_in(self.norm_in(x)))))


class PerceiverLayer(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, ff_mult: int):
        super().__init__()
        self.attn = PerceiverAttention(dim, heads, head_dim)
        self.ff = PerceiverFeedForward(dim, ff_mult)


class TextPooler(nn.Module):
    """Pools a text encoder's tokens into one vector for the timestep embedding.

    A Perceiver resampler: learned latents, plus a few made from the mean-pooled text,
    cross-attend to the text (with learned positions) over ``depth`` layers; their
    projections are averaged. No padding mask is used (the authors' call passes none).

    Args:
        dim: Text feature size (512 for CLIP ViT-B/32).
        out_dim: Timestep-embedding size.
    """

    def __init__(self, dim: int, out_dim: int, depth: int = 2, heads: int = 8, head_dim: int = 64, num_latents: int = 64,
                 num_pooled_latents: int = 4, max_length: int = 512, ff_mult: int = 4):
        super().__init__()
        self.num_pooled_latents = num_pooled_latents
        self.position_embedding = nn.Embedding(max_length, dim)
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.pooled_norm = nn.LayerNorm(dim, bias=False)
        self.pooled_proj = nn.Linear(dim, dim * num_pooled_latents)
        self.layers = nn.ModuleList([PerceiverLayer(dim, heads, head_dim, ff_mult) for _ in range(depth)])
        self.proj = nn.Linear(dim, out_dim)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """float ``[B, T, dim]`` (T ≤ ``max_length``) → ``[B, out_dim]``."""
        b, length = text.shape[:2]
        x = text + self.position_embedding(torch.arange(length, device=text.device))
        pooled = self.pooled_proj(self.pooled_norm(text.mean(dim=1))).unflatten(-1, (self.num_pooled_latents, -1))
        latents = torch.cat([pooled, self.latents.expand(b, -1, -1)], dim=1)
        for layer in self.layers:
            latents = layer.attn(x, latents) + latents
            latents = layer.ff(latents) + latents
        return self.proj(latents).mean(dim=1)


class DownLevel(nn.Module):
    def __init__(self, resnets: list[nn.Module], attentions: list[nn.Module], downsampler: nn.Module | None):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(attentions)
        self.downsampler = downsampler


class UpLevel(nn.Module):
    def __init__(self, resnets: list[nn.Module], attentions: list[nn.Module], upsampler: nn.Module | None):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(attentions)
        self.upsampler = upsampler


class MidBlock(nn.Module):
    def __init__(self, channels: int, temb_channels: int, head_channels: int, dropout: float):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock3D(channels, channels, temb_channels, dropout) for _ in range(2)])
        self.attention = FrameSelfAttention(channels, head_channels)


@dataclass
class AVDCUNetOutput(BaseOutput):
    """``sample``: float ``[B, out_channels, F, H, W]``, the v-prediction."""

    sample: torch.Tensor


class AVDCUNet3D(ModelMixin, ConfigMixin):
    """AVDC's 3D UNet: v-prediction for F frames given the condition frame and text tokens.

    Args:
        in_channels: Channels of the generated frames (3, RGB); the condition frame adds
            as many again.
        out_channels: Predicted channels (3).
        model_channels: Width of the first level (128; Bridge 160).
        channel_mult: Width multiplier per level; every level but the last halves H and W.
        num_res_blocks: Residual blocks per level on the way down (one more on the way up).
        attention_resolutions: Downsampling factors (1, 2, 4...) at which frame
            self-attention follows each residual block; the middle always has one.
        head_channels: Channels per attention head (32).
        text_channels: Feature size of the text tokens (CLIP ViT-B/32: 512).
        dropout: Dropout inside residual blocks (0 in every release).
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        model_channels: int = 160,
        channel_mult: tuple[int, ...] = (1, 2, 4),
        num_res_blocks: int = 3,
        attention_resolutions: tuple[int, ...] = (4, 8),
        head_channels: int = 32,
        text_channels: int = 512,
        dropout: float = 0.0,
    ):
        super().__init__()
        for name, width in (("model_channels", model_channels), *((f"channel_mult[{i}]", m * model_channels) for i, m in enumerate(channel_mult))):
            if width % GROUPS:
                raise ValueError(f"AVDCUNet3D: {name} gives {width} channels, not a multiple of GroupNorm's {GROUPS} groups")
        self.gradient_checkpointing = False
        temb = model_channels * 4
        self.time_proj = Timesteps(model_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(model_channels, temb)
        self.text_pooler = TextPooler(text_channels, temb)

        ch = int(channel_mult[0] * model_channels)
        self.conv_in = FactorizedConv3d(2 * in_channels, ch)
        skips, factor = [ch], 1
        self.down_blocks = nn.ModuleList()
        for level, mult in enumerate(channel_mult):
            resnets, attentions = [], []
            for _ in range(num_res_blocks):
                resnets.append(ResnetBlock3D(ch, int(mult * model_channels), temb, dropout))
                ch = int(mult * model_channels)
                if factor in attention_resolutions:
                    attentions.append(FrameSelfAttention(ch, head_channels))
                skips.append(ch)
            last = level == len(channel_mult) - 1
            self.down_blocks.append(DownLevel(resnets, attentions, None if last else FactorizedConv3d(ch, ch, stride=2)))
            if not last:
                skips.append(ch)
                factor *= 2
        self.mid_block = MidBlock(ch, temb, head_channels, dropout)
        self.up_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            resnets, attentions = [], []
            for _ in range(num_res_blocks + 1):
                resnets.append(ResnetBlock3D(ch + skips.pop(), int(model_channels * mult), temb, dropout))
                ch = int(model_channels * mult)
                if factor in attention_resolutions:
                    attentions.append(FrameSelfAttention(ch, head_channels))
            self.up_blocks.append(UpLevel(resnets, attentions, Upsample3D(ch) if level else None))
            if level:
                factor //= 2
        self.norm_out = nn.GroupNorm(GROUPS, ch)
        self.conv_out = FactorizedConv3d(ch, out_channels)

    def _run(self, module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(module, *args, use_reentrant=False)
        return module(*args)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, text_embeds: torch.Tensor,
                return_dict: bool = True) -> AVDCUNetOutput | tuple[torch.Tensor]:
        """Predict v for the noisy frames.

        Args:
            sample: float ``[B, 3, F, H, W]``, the noisy frames x_t (the [-1, 1] scale).
            timestep: int ``[B]`` in [0, 100).
            context: float ``[B, 3, H, W]`` in [0, 1], the condition (first) frame.
            text_embeds: float ``[B, T, text_channels]``, the text encoder's last hidden
                state (zeros for the unconditional branch of guidance).
            return_dict: Return an `AVDCUNetOutput` (else a tuple).

        Returns:
            The v-prediction, float ``[B, 3, F, H, W]``.
        """
        frames = sample.shape[2]
        x = torch.cat([sample, context[:, :, None].expand(-1, -1, frames, -1, -1).to(sample.dtype)], dim=1)
        temb = self.time_embedding(self.time_proj(timestep).to(sample.dtype)) + self.text_pooler(text_embeds.to(sample.dtype))
        h = self.conv_in(x)
        skips = [h]
        for level in self.down_blocks:
            for i, resnet in enumerate(level.resnets):
                h = self._run(resnet, h, temb)
                if len(level.attentions):
                    h = self._run(level.attentions[i], h)
                skips.append(h)
            if level.downsampler is not None:
                h = level.downsampler(h)
                skips.append(h)
        h = self._run(self.mid_block.resnets[0], h, temb)
        h = self._run(self.mid_block.attention, h)
        h = self._run(self.mid_block.resnets[1], h, temb)
        for level in self.up_blocks:
            for i, resnet in enumerate(level.resnets):
                h = self._run(resnet, torch.cat([h, skips.pop()], dim=1), temb)
                if len(level.attentions):
                    h = self._run(level.attentions[i], h)
            if level.upsampler is not None:
                h = level.upsampler(h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return AVDCUNetOutput(sample=out) if return_dict else (out,)
