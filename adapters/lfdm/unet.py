"""LFDM's 3D UNet: denoises a video of flow + occlusion maps given image features and text.

A port of ``Unet3D`` in ``DM/modules/video_flow_diffusion.py`` (itself derived from
lucidrains' video-diffusion-pytorch), written from its structure and released configs:

- input: the 3 noisy channels (2 flow + 1 occlusion, in [-1, 1]) concatenated with the
  LFAE bottleneck features of the condition frame, repeated over time;
- spatial convolutions are ``(1, 3, 3)`` 3D convolutions; time mixes only through
  attention over frames (rotary embedding + a T5-style relative position bias);
- every resolution has two ResNet blocks (FiLM-conditioned on time ⊕ text), a linear
  spatial attention and a temporal attention; the middle has full spatial attention;
- two heads read the last features together with the first convolution's output: a
  2-channel flow head and a 1-channel occlusion head.

Key names are the port's own; `adapters.lfdm.convert` maps the upstream ones onto them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from adapters.lfdm.config import UNetConfig


class ChannelNorm(nn.Module):
    """Layer norm over the channel axis of ``[B, C, F, H, W]`` with a scale only (no shift)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        # Kept [1, C, 1, 1, 1] as the released checkpoints store it.
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) / (var + self.eps).sqrt() * self.weight


class ResnetBlock3D(nn.Module):
    """Two (1,3,3) conv → GroupNorm → SiLU blocks; the first FiLM-modulated by the condition."""

    def __init__(self, dim_in: int, dim_out: int, cond_dim: int | None, groups: int):
        super().__init__()
        self.time_proj = nn.Linear(cond_dim, dim_out * 2) if cond_dim is not None else None
        self.conv1 = nn.Conv3d(dim_in, dim_out, (1, 3, 3), padding=(0, 1, 1))
        self.norm1 = nn.GroupNorm(groups, dim_out)
        self.conv2 = nn.Conv3d(dim_out, dim_out, (1, 3, 3), padding=(0, 1, 1))
        self.norm2 = nn.GroupNorm(groups, dim_out)
        self.shortcut = nn.Conv3d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(self.conv1(x))
        if self.time_proj is not None:
            scale, shift = self.time_proj(F.silu(cond))[:, :, None, None, None].chunk(2, dim=1)
            h = h * (scale + 1) + shift
        h = F.silu(h)
        h = F.silu(self.norm2(self.conv2(h)))
        return h + self.shortcut(x)


class LinearSpatialAttention(nn.Module):
    """Per-frame linear attention (softmax over features for q, over positions for k), pre-normed, residual."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads, self.scale = heads, dim_head**-0.5
        self.norm = ChannelNorm(dim)
        self.to_qkv = nn.Conv2d(dim, heads * dim_head * 3, 1, bias=False)
        self.to_out = nn.Conv2d(heads * dim_head, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = x.shape
        frames = self.norm(x).permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        q, k, v = (t.reshape(b * f, self.heads, -1, h * w) for t in self.to_qkv(frames).chunk(3, dim=1))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q).reshape(b * f, -1, h, w)
        out = self.to_out(out).reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)
        return x + out


class TokenAttention(nn.Module):
    """Multi-head attention over one axis of ``[B, C, F, H, W]`` (time, or space), pre-normed, residual.

    Args:
        dim: Channels.
        heads: Heads.
        dim_head: Width of a head.
        over: ``"time"`` (tokens = frames, per pixel; rotary positions and the
            relative bias apply) or ``"space"`` (tokens = pixels, per frame).
    """

    def __init__(self, dim: int, heads: int, dim_head: int, over: str):
        super().__init__()
        self.heads, self.dim_head, self.over = heads, dim_head, over
        self.norm = ChannelNorm(dim)
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None, rotary: "RotaryFrequencies | None" = None) -> torch.Tensor:
        b, c, f, h, w = x.shape
        y = self.norm(x)
        if self.over == "time":
            tokens = y.permute(0, 3, 4, 2, 1).reshape(b * h * w, f, c)
        else:
            tokens = y.permute(0, 2, 3, 4, 1).reshape(b * f, h * w, c)
        q, k, v = (t.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2) for t in self.to_qkv(tokens).chunk(3, dim=-1))
        if rotary is not None:
            q, k = rotary.rotate(q), rotary.rotate(k)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.dim_head**-0.5)
        out = self.to_out(out.transpose(1, 2).flatten(2))
        if self.over == "time":
            out = out.reshape(b, h, w, f, c).permute(0, 4, 3, 1, 2)
        else:
            out = out.reshape(b, f, h, w, c).permute(0, 4, 1, 2, 3)
        return x + out


class RotaryFrequencies(nn.Module):
    """Rotary position embedding over frames, on interleaved feature pairs (RoFormer).

    The frequencies are constants (``1 / 10000^(2i/d)``); the released checkpoints hold
    a copy per temporal attention, which the converter checks and drops.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("freqs", rotary_frequencies(dim), persistent=False)

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate ``[..., N, D]`` by position along N (the first ``dim`` features only)."""
        n = x.shape[-2]
        angles = torch.arange(n, device=x.device, dtype=self.freqs.dtype)[:, None] * self.freqs[None, :]
        angles = angles.repeat_interleave(2, dim=-1).to(x.dtype)
        head, tail = x[..., : self.dim], x[..., self.dim :]
        pairs = head.unflatten(-1, (-1, 2))
        rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return torch.cat((head * angles.cos() + rotated * angles.sin(), tail), dim=-1)


def rotary_frequencies(dim: int, theta: float = 10000.0) -> torch.Tensor:
    """float32 ``[dim // 2]``: the rotary embedding's inverse frequencies."""
    return 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))


class RelativeTimeBias(nn.Module):
    """T5-style bucketed relative position bias between frames, one value per head."""

    def __init__(self, heads: int, num_buckets: int, max_distance: int):
        super().__init__()
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.embedding = nn.Embedding(num_buckets, heads)

    def buckets(self, n: int, device: torch.device) -> torch.Tensor:
        """long ``[n, n]``: bucket of (key position − query position)."""
        pos = torch.arange(n, dtype=torch.long, device=device)
        distance = pos[:, None] - pos[None, :]  # query i, key j: i - j
        half = self.num_buckets // 2
        bucket = (distance < 0).long() * half
        distance = distance.abs()
        exact = half // 2
        # Distances past `exact` share log-spaced buckets, capped at the last one.
        far = exact + (torch.log(distance.float() / exact) / math.log(self.max_distance / exact) * (half - exact)).long()
        far = torch.minimum(far, torch.full_like(far, half - 1))
        return bucket + torch.where(distance < exact, distance, far)

    def forward(self, n: int, device: torch.device) -> torch.Tensor:
        """float ``[heads, n, n]`` additive attention bias."""
        return self.embedding(self.buckets(n, device)).permute(2, 0, 1)


class SinusoidalTimestep(nn.Module):
    """Sinusoidal embedding of integer timesteps: ``[sin(t·f), cos(t·f)]``, f = 10000^(-i/(d/2-1))."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
        angles = t[:, None].float() * freqs[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class TimestepMLP(nn.Module):
    """Sinusoid → Linear → GELU → Linear."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.sinusoid = SinusoidalTimestep(dim)
        self.linear_1 = nn.Linear(dim, out_dim)
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.gelu(self.linear_1(self.sinusoid(t))))


class UNetLevel(nn.Module):
    """One resolution: two ResNet blocks, spatial linear attention, temporal attention, resampler."""

    def __init__(self, dim_in: int, dim_out: int, cond_dim: int, config: UNetConfig, resample: nn.Module, name: str):
        super().__init__()
        groups = config.resnet_groups
        self.resnet1 = ResnetBlock3D(dim_in, dim_out, cond_dim, groups)
        self.resnet2 = ResnetBlock3D(dim_out, dim_out, cond_dim, groups)
        self.spatial_attn = LinearSpatialAttention(dim_out, config.attn_heads, config.spatial_dim_head)
        self.temporal_attn = TokenAttention(dim_out, config.attn_heads, config.temporal_dim_head, over="time")
        self.add_module(name, resample)
        self.resample_name = name

    def features(self, x: torch.Tensor, cond: torch.Tensor, bias: torch.Tensor, rotary: RotaryFrequencies) -> torch.Tensor:
        x = self.resnet2(self.resnet1(x, cond), cond)
        return self.temporal_attn(self.spatial_attn(x), bias, rotary)

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.resample_name)(x)


class MidBlock(nn.Module):
    """ResNet → full spatial attention → temporal attention → ResNet."""

    def __init__(self, dim: int, cond_dim: int, config: UNetConfig):
        super().__init__()
        self.resnet1 = ResnetBlock3D(dim, dim, cond_dim, config.resnet_groups)
        self.spatial_attn = TokenAttention(dim, config.attn_heads, config.spatial_dim_head, over="space")
        self.temporal_attn = TokenAttention(dim, config.attn_heads, config.temporal_dim_head, over="time")
        self.resnet2 = ResnetBlock3D(dim, dim, cond_dim, config.resnet_groups)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, bias: torch.Tensor, rotary: RotaryFrequencies) -> torch.Tensor:
        x = self.spatial_attn(self.resnet1(x, cond))
        return self.resnet2(self.temporal_attn(x, bias, rotary), cond)


class OutputHead(nn.Module):
    """ResNet block (no condition) → 1×1×1 projection."""

    def __init__(self, dim_in: int, dim: int, out_channels: int, groups: int):
        super().__init__()
        self.resnet = ResnetBlock3D(dim_in, dim, None, groups)
        self.proj = nn.Conv3d(dim, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.resnet(x))


class FlowUNet3DModel(ModelMixin, ConfigMixin):
    """LFDM's denoiser over flow + occlusion videos.

    Args:
        dim: Base width (64).
        dim_mults: Width multipliers per resolution ((1, 2, 4, 8)).
        feature_channels: LFAE feature channels concatenated to the input (256).
        text_dim: Text embedding width (768).
        attn_heads: Attention heads (8).
        temporal_dim_head: Temporal attention head width (32).
        spatial_dim_head: Spatial attention head width (32).
        resnet_groups: GroupNorm groups (8).
        num_buckets: Relative time-bias buckets (32).
        max_distance: Relative time-bias max distance (32).
        learn_null_cond: Learn the null text embedding (False: zeros).
    """

    @register_to_config
    def __init__(
        self,
        dim: int = 64,
        dim_mults: tuple[int, ...] = (1, 2, 4, 8),
        feature_channels: int = 256,
        text_dim: int = 768,
        attn_heads: int = 8,
        temporal_dim_head: int = 32,
        spatial_dim_head: int = 32,
        resnet_groups: int = 8,
        num_buckets: int = 32,
        max_distance: int = 32,
        learn_null_cond: bool = False,
    ):
        super().__init__()
        config = UNetConfig(dim, tuple(dim_mults), feature_channels, text_dim, attn_heads, temporal_dim_head,
                            spatial_dim_head, resnet_groups, num_buckets, max_distance, learn_null_cond)
        for width in (dim, *(dim * m for m in dim_mults)):
            if width % resnet_groups:
                raise ValueError(f"FlowUNet3DModel: every width ({dim} × dim_mults={tuple(dim_mults)}) must divide by resnet_groups={resnet_groups}; {width} does not")
        self.rotary = RotaryFrequencies(min(32, temporal_dim_head))
        self.time_pos_bias = RelativeTimeBias(attn_heads, num_buckets, max_distance)
        self.conv_in = nn.Conv3d(3 + feature_channels, dim, (1, 7, 7), padding=(0, 3, 3))
        self.temporal_in = TokenAttention(dim, attn_heads, temporal_dim_head, over="time")
        time_dim = dim * 4
        self.time_embedding = TimestepMLP(dim, time_dim)
        if learn_null_cond:
            self.null_text_embedding = nn.Parameter(torch.randn(1, text_dim))
        else:
            self.register_buffer("null_text_embedding", torch.zeros(1, text_dim), persistent=False)
        cond_dim = time_dim + text_dim

        dims = [dim, *(dim * m for m in dim_mults)]
        pairs = list(zip(dims[:-1], dims[1:]))
        last = len(pairs) - 1
        self.down_blocks = nn.ModuleList(
            UNetLevel(d_in, d_out, cond_dim, config,
                      nn.Conv3d(d_out, d_out, (1, 4, 4), (1, 2, 2), (0, 1, 1)) if i < last else nn.Identity(), "downsample")
            for i, (d_in, d_out) in enumerate(pairs)
        )
        self.mid_block = MidBlock(dims[-1], cond_dim, config)
        self.up_blocks = nn.ModuleList(
            UNetLevel(d_out * 2, d_in, cond_dim, config,
                      nn.ConvTranspose3d(d_in, d_in, (1, 4, 4), (1, 2, 2), (0, 1, 1)) if i < last else nn.Identity(), "upsample")
            for i, (d_in, d_out) in enumerate(reversed(pairs))
        )
        self.flow_head = OutputHead(dim * 2, dim, 2, resnet_groups)
        self.occlusion_head = OutputHead(dim * 2, dim, 1, resnet_groups)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        text_embeds: torch.Tensor,
        drop_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the noise of the flow + occlusion channels.

        Args:
            sample: float ``[B, 3 + feature_channels, F, h, w]``: noisy flow (2) and
                occlusion (1) channels, then the condition frame's LFAE features
                repeated over the F frames.
            timestep: long ``[B]`` diffusion steps in [0, timesteps).
            text_embeds: float ``[B, text_dim]`` text embeddings.
            drop_text: bool ``[B]``: use the null text embedding for these samples
                (classifier-free guidance's unconditional branch; training's text dropout).

        Returns:
            float ``[B, 3, F, h, w]``: predicted noise, flow channels first.
        """
        frames = sample.shape[2]
        bias = self.time_pos_bias(frames, sample.device).to(sample.dtype)
        x = self.conv_in(sample)
        skip_in = x
        x = self.temporal_in(x, bias, self.rotary)
        if drop_text is not None:
            null = self.null_text_embedding.to(text_embeds.dtype).expand_as(text_embeds)
            text_embeds = torch.where(drop_text[:, None], null, text_embeds)
        cond = torch.cat((self.time_embedding(timestep).to(text_embeds.dtype), text_embeds), dim=-1)

        skips = []
        for level in self.down_blocks:
            x = level.features(x, cond, bias, self.rotary)
            skips.append(x)
            x = level.resample(x)
        x = self.mid_block(x, cond, bias, self.rotary)
        for level in self.up_blocks:
            x = level.features(torch.cat((x, skips.pop()), dim=1), cond, bias, self.rotary)
            x = level.resample(x)
        x = torch.cat((x, skip_in), dim=1)
        return torch.cat((self.flow_head(x), self.occlusion_head(x)), dim=1)
