"""`DynamiCrafterUNet`: the video denoiser of DynamiCrafter (Xing et al., 2023).

A Stable Diffusion UNet made temporal, as VideoCrafter builds it: every residual block
is followed by a temporal convolution (diffusers' `TemporalConvLayer`), every spatial
transformer by a temporal one, plus one temporal attention right after the input
convolution. Its input is the noisy latent concatenated on channels with the
first-frame latent repeated over time (8 channels); its context is 77 OpenCLIP text
tokens followed by the Resampler's image tokens; a second sinusoidal embedding carries
the frame stride and is added to the timestep embedding.

Frames travel as ``[B*T, C, h, w]`` (frames of one video consecutive) between layers;
the temporal layers fold them back into videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, get_timestep_embedding
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.resnet import ResnetBlock2D, TemporalConvLayer, Upsample2D
from diffusers.utils import BaseOutput
from torch import nn

from adapters.dynamicrafter.attention import Attention, SpatialTransformer, TemporalTransformer


@dataclass
class DynamiCrafterUNetOutput(BaseOutput):
    """Attributes: sample: float ``[B, out_channels, T, h, w]``, the predicted noise."""

    sample: torch.Tensor


class _Downsample(nn.Module):
    """A stride-2 3x3 convolution (diffusers' Downsample2D registers its conv under two names)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv(hidden)


def _resnet(in_channels: int, out_channels: int, temb_channels: int) -> ResnetBlock2D:
    # The original blocks: GroupNorm(32, eps 1e-5), SiLU, 3x3 conv, + time embedding, a 1x1 shortcut when widths differ.
    return ResnetBlock2D(in_channels=in_channels, out_channels=out_channels, temb_channels=temb_channels, eps=1e-5, groups=32)


class _Level(nn.Module):
    """One resolution of the UNet: resnets (+ temporal conv), optional spatial and temporal attention, a resampler."""

    def __init__(self, channels_in: list[int], channels: int, temb: int, attention: bool, heads: int, dim_head: int,
                 context_dim: int, text_context_len: int, resample: str | None, attention_layers: int | None = None):
        super().__init__()
        # One attention pair per resnet, except in the middle (two resnets around one pair).
        attention_layers = len(channels_in) if attention_layers is None else attention_layers
        self.resnets = nn.ModuleList([_resnet(cin, channels, temb) for cin in channels_in])
        self.temp_convs = nn.ModuleList([TemporalConvLayer(channels, channels, dropout=0.1) for _ in channels_in])
        if attention:
            self.attentions = nn.ModuleList(
                [SpatialTransformer(channels, heads, dim_head, context_dim, True, text_context_len) for _ in range(attention_layers)]
            )
            self.temp_attentions = nn.ModuleList([TemporalTransformer(channels, heads, dim_head) for _ in range(attention_layers)])
        else:
            self.attentions = self.temp_attentions = None
        if resample == "down":
            self.downsamplers = nn.ModuleList([_Downsample(channels)])
        elif resample == "up":
            self.upsamplers = nn.ModuleList([Upsample2D(channels, use_conv=True, out_channels=channels)])

    def layer(self, i: int, hidden: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, frames: int) -> torch.Tensor:
        """Resnet i, its temporal conv, and its spatial and temporal attention if the level has them."""
        hidden = self.resnets[i](hidden, temb)
        hidden = self.temp_convs[i](hidden, num_frames=frames)
        if self.attentions is not None:
            hidden = self.attentions[i](hidden, context)
            hidden = self.temp_attentions[i](hidden, frames)
        return hidden


class DynamiCrafterUNet(ModelMixin, ConfigMixin):
    """The 3D UNet of DynamiCrafter, in the diffusers idiom.

    Args:
        in_channels: Input channels (8: the noisy latent + the first-frame latent).
        out_channels: Predicted-noise channels (4).
        model_channels: Width of the first level (320).
        attention_resolutions: Downsampling factors at which levels have attention
            ((4, 2, 1): all levels but the deepest).
        num_res_blocks: Resnets per level on the way down (one more on the way up).
        channel_mult: Width multiplier per level ((1, 2, 4, 4)).
        num_head_channels: Channels per attention head (64); heads = width / 64.
        transformer_depth: Transformer blocks per attention layer (1; only 1 is supported).
        context_dim: Channels of the text and image tokens (1024).
        init_attention_heads: Heads of the temporal attention after ``conv_in`` (8).
        text_context_len: Text tokens at the start of the context (77).
        image_tokens_per_frame: Image tokens per frame (16). A context of
            ``text_context_len + T * image_tokens_per_frame`` tokens gives each frame its
            own image tokens; any other length is shared by all frames (upstream's rule).
        default_frame_stride: Frame stride used when none is given (3).
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 8,
        out_channels: int = 4,
        model_channels: int = 320,
        attention_resolutions: tuple[int, ...] = (4, 2, 1),
        num_res_blocks: int = 2,
        channel_mult: tuple[int, ...] = (1, 2, 4, 4),
        num_head_channels: int = 64,
        transformer_depth: int = 1,
        context_dim: int = 1024,
        init_attention_heads: int = 8,
        text_context_len: int = 77,
        image_tokens_per_frame: int = 16,
        default_frame_stride: int = 3,
    ):
        super().__init__()
        if transformer_depth != 1:
            raise ValueError(f"DynamiCrafterUNet: transformer_depth={transformer_depth}; the released models use 1, and only 1 is implemented")
        if model_channels % 32 or any((model_channels * m) % num_head_channels for m in channel_mult):
            raise ValueError(
                f"DynamiCrafterUNet: model_channels={model_channels} and channel_mult={tuple(channel_mult)} must give widths "
                f"divisible by 32 (GroupNorm) and by num_head_channels={num_head_channels}"
            )
        temb = model_channels * 4
        self.time_embedding = TimestepEmbedding(model_channels, temb)
        self.fs_embedding = TimestepEmbedding(model_channels, temb)
        self.conv_in = nn.Conv2d(in_channels, model_channels, 3, padding=1)
        self.init_temporal_attention = TemporalTransformer(model_channels, init_attention_heads, num_head_channels)

        levels = len(channel_mult)
        widths = [model_channels * m for m in channel_mult]
        skips = [model_channels]  # channels of each skip connection, in the order they are made
        down, ch = [], model_channels
        for level, width in enumerate(widths):
            ins = [ch] + [width] * (num_res_blocks - 1)
            attention = 2**level in attention_resolutions
            down.append(_Level(ins, width, temb, attention, width // num_head_channels, num_head_channels, context_dim,
                               text_context_len, "down" if level < levels - 1 else None))
            skips += [width] * num_res_blocks + ([width] if level < levels - 1 else [])
            ch = width
        self.down_blocks = nn.ModuleList(down)

        self.mid_block = _Level([ch, ch], ch, temb, True, ch // num_head_channels, num_head_channels, context_dim,
                                text_context_len, None, attention_layers=1)

        up = []
        for level in reversed(range(levels)):
            width = widths[level]
            ins = []
            for _ in range(num_res_blocks + 1):
                ins.append(ch + skips.pop())
                ch = width
            attention = 2**level in attention_resolutions
            up.append(_Level(ins, width, temb, attention, width // num_head_channels, num_head_channels, context_dim,
                             text_context_len, "up" if level > 0 else None))
        self.up_blocks = nn.ModuleList(up)

        self.conv_norm_out = nn.GroupNorm(32, model_channels, eps=1e-5)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(model_channels, out_channels, 3, padding=1)

    def set_attention_backend(self, backend: str | None) -> None:
        """Route every attention through a diffusers attention backend (None: torch's SDPA)."""
        for module in self.modules():
            if isinstance(module, Attention):
                module.backend = backend

    def _frame_context(self, context: torch.Tensor, frames: int) -> torch.Tensor:
        """The context ``[B, L, C]`` as one context per frame, ``[B*T, L', C]``."""
        b, length, c = context.shape
        text_len, per_frame = self.config.text_context_len, self.config.image_tokens_per_frame
        if length == text_len + frames * per_frame:
            # One group of image tokens per frame (the Resampler's frame-wise queries).
            text = context[:, :text_len].repeat_interleave(frames, dim=0)
            image = context[:, text_len:].reshape(b * frames, per_frame, c)
            return torch.cat([text, image], dim=1)
        return context.repeat_interleave(frames, dim=0)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        frame_stride: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> DynamiCrafterUNetOutput | tuple[torch.Tensor]:
        """Predict the noise of a batch of latent videos.

        Args:
            sample: float ``[B, in_channels, T, h, w]``: the noisy latent (4 channels)
                then the first-frame latent repeated over T (4 channels).
            timestep: long ``[B]`` (or a scalar) diffusion step in [0, 1000).
            encoder_hidden_states: float ``[B, 77 + N, context_dim]``: text tokens then
                N image tokens (``N = 16*T`` for per-frame image tokens).
            frame_stride: long ``[B]`` frame stride (None: ``default_frame_stride``).
            return_dict: Return a `DynamiCrafterUNetOutput` rather than a tuple.

        Returns:
            The predicted noise, float ``[B, out_channels, T, h, w]``.
        """
        b, _, frames, h, w = sample.shape
        dtype = self.conv_in.weight.dtype
        timestep = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(b)
        if frame_stride is None:
            frame_stride = torch.full((b,), self.config.default_frame_stride, device=sample.device, dtype=torch.long)
        frame_stride = torch.as_tensor(frame_stride, device=sample.device).reshape(-1).expand(b)
        mc = self.config.model_channels
        t_emb = get_timestep_embedding(timestep, mc, flip_sin_to_cos=True, downscale_freq_shift=0).to(dtype)
        fs_emb = get_timestep_embedding(frame_stride, mc, flip_sin_to_cos=True, downscale_freq_shift=0).to(dtype)
        temb = (self.time_embedding(t_emb) + self.fs_embedding(fs_emb)).repeat_interleave(frames, dim=0)
        context = self._frame_context(encoder_hidden_states.to(dtype), frames)

        hidden = sample.to(dtype).permute(0, 2, 1, 3, 4).reshape(b * frames, -1, h, w)
        hidden = self.conv_in(hidden)
        hidden = self.init_temporal_attention(hidden, frames)
        skips = [hidden]
        for level in self.down_blocks:
            for i in range(len(level.resnets)):
                hidden = level.layer(i, hidden, temb, context, frames)
                skips.append(hidden)
            if hasattr(level, "downsamplers"):
                hidden = level.downsamplers[0](hidden)
                skips.append(hidden)

        mid = self.mid_block
        hidden = mid.temp_convs[0](mid.resnets[0](hidden, temb), num_frames=frames)
        hidden = mid.temp_attentions[0](mid.attentions[0](hidden, context), frames)
        hidden = mid.temp_convs[1](mid.resnets[1](hidden, temb), num_frames=frames)

        for level in self.up_blocks:
            for i in range(len(level.resnets)):
                hidden = level.layer(i, torch.cat([hidden, skips.pop()], dim=1), temb, context, frames)
            if hasattr(level, "upsamplers"):
                hidden = level.upsamplers[0](hidden)

        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        out = hidden.reshape(b, frames, -1, h, w).permute(0, 2, 1, 3, 4)
        if not return_dict:
            return (out,)
        return DynamiCrafterUNetOutput(sample=out)
