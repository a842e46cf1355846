"""Open-Sora 1.2's video VAE: the SDXL image VAE per frame, then a causal temporal VAE.

Encoding: each frame through diffusers' `AutoencoderKL` (the SDXL VAE, latents scaled by
0.18215 as Open-Sora does, not by SDXL's own 0.13025), then chunks of 17 such frames
through the temporal VAE, which compresses time 4× (17 → 5 latent frames; a single
image → 1), then a fixed per-channel normalization ``(z − shift) / scale``. Decoding
runs the same way back.

The temporal VAE (written here from upstream's ``vae_temporal.py`` design, MAGVIT-style)
is a stack of causal 3-D convolution resnets: every convolution pads time on the past
side only, so frame t never sees frames after it. The encoder halves time twice with
strided convolutions; the decoder doubles it twice by depth-to-time rearrangement, and
the ``−T mod 4`` frames of padding put in front of the input are cut off again.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.autoencoders import AutoencoderKL
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from adapters.opensora import config


class CausalConv3d(nn.Conv3d):
    """A 3-D convolution padded in time on the past side only (and "same" in space).

    Args:
        in_channels, out_channels: Channels.
        kernel_size: (t, h, w), h and w odd; an int is used for all three.
        time_stride: Stride along time (space is never strided).
        bias: Learn a bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3, time_stride: int = 1, bias: bool = True):
        kernel = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        if kernel[1] % 2 == 0 or kernel[2] % 2 == 0:
            raise ValueError(f"CausalConv3d: spatial kernel sizes must be odd; got {kernel}")
        super().__init__(in_channels, out_channels, kernel, stride=(time_stride, 1, 1), bias=bias)
        # Past frames needed so that the output has ceil(T / stride) frames.
        self.causal_padding = (kernel[2] // 2, kernel[2] // 2, kernel[1] // 2, kernel[1] // 2, kernel[0] - time_stride, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` → ``[B, C', T / stride, H, W]``."""
        return super().forward(F.pad(x, self.causal_padding))


class CausalResnet(nn.Module):
    """GroupNorm → SiLU → causal 3×3×3, twice, plus a 1×1×1 shortcut when the channels change."""

    def __init__(self, in_channels: int, out_channels: int, num_groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups, in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, bias=False)
        self.norm2 = nn.GroupNorm(num_groups, out_channels)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, bias=False)
        self.conv_shortcut = CausalConv3d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (x if self.conv_shortcut is None else self.conv_shortcut(x))


class TemporalEncoder(nn.Module):
    """Causal resnet levels with strided-time downsampling between them, to ``2·latent`` moments."""

    def __init__(self, channels: int, latent_channels: int, filters: int, num_res_blocks: int,
                 channel_multipliers: Sequence[int], temporal_downsample: Sequence[bool], num_groups: int):
        super().__init__()
        self.conv_in = CausalConv3d(channels, filters, 3, bias=False)
        self.down_blocks = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        previous = filters
        for level, multiplier in enumerate(channel_multipliers):
            width = filters * multiplier
            self.down_blocks.append(nn.ModuleList(CausalResnet(previous if i == 0 else width, width, num_groups) for i in range(num_res_blocks)))
            previous = width
            if level < len(channel_multipliers) - 1:
                # An identity keeps the index of each level's downsampler (the checkpoint's numbering).
                self.downsamplers.append(CausalConv3d(width, width, 3, time_stride=2) if temporal_downsample[level] else nn.Identity())
        self.mid_blocks = nn.ModuleList(CausalResnet(previous, previous, num_groups) for _ in range(num_res_blocks))
        self.norm_out = nn.GroupNorm(num_groups, previous)
        self.conv_out = CausalConv3d(previous, 2 * latent_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for level, resnets in enumerate(self.down_blocks):
            for resnet in resnets:
                x = resnet(x)
            if level < len(self.downsamplers):
                x = self.downsamplers[level](x)
        for resnet in self.mid_blocks:
            x = resnet(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class TemporalDecoder(nn.Module):
    """The encoder mirrored: time is doubled by a convolution to 2× channels, then depth-to-time."""

    def __init__(self, channels: int, latent_channels: int, filters: int, num_res_blocks: int,
                 channel_multipliers: Sequence[int], temporal_downsample: Sequence[bool], num_groups: int):
        super().__init__()
        self.temporal_downsample = tuple(temporal_downsample)
        width = filters * channel_multipliers[-1]
        self.conv_in = CausalConv3d(latent_channels, width, 3)
        self.mid_blocks = nn.ModuleList(CausalResnet(width, width, num_groups) for _ in range(num_res_blocks))
        blocks: list[nn.ModuleList] = [None] * len(channel_multipliers)  # type: ignore[list-item]
        upsamplers: list[nn.Module] = [None] * (len(channel_multipliers) - 1)  # type: ignore[list-item]
        previous = width
        for level in reversed(range(len(channel_multipliers))):
            width = filters * channel_multipliers[level]
            blocks[level] = nn.ModuleList(CausalResnet(previous if i == 0 else width, width, num_groups) for i in range(num_res_blocks))
            previous = width
            if level > 0:
                factor = 2 if temporal_downsample[level - 1] else 1
                upsamplers[level - 1] = CausalConv3d(width, width * factor, 3) if factor > 1 else nn.Identity()
        self.up_blocks = nn.ModuleList(blocks)
        self.upsamplers = nn.ModuleList(upsamplers)
        self.norm_out = nn.GroupNorm(num_groups, previous)
        self.conv_out = CausalConv3d(previous, channels, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(z)
        for resnet in self.mid_blocks:
            x = resnet(x)
        for level in reversed(range(len(self.up_blocks))):
            for resnet in self.up_blocks[level]:
                x = resnet(x)
            if level > 0:
                x = self.upsamplers[level - 1](x)
                if self.temporal_downsample[level - 1]:
                    # Depth to time: channel c·2 + k becomes frame 2t + k of channel c.
                    b, c, t, h, w = x.shape
                    x = x.reshape(b, c // 2, 2, t, h, w).permute(0, 1, 3, 2, 4, 5).reshape(b, c // 2, t * 2, h, w)
        return self.conv_out(F.silu(self.norm_out(x)))


class TemporalVAE(ModelMixin, ConfigMixin):
    """Open-Sora 1.2's temporal VAE over SDXL-VAE latents (`VAE_Temporal_SD` at the published config).

    Args:
        channels: Channels in and out = the image VAE's latent channels (4).
        filters: Base width (128).
        num_res_blocks: Resnets per level (4).
        channel_multipliers: Width of each level over ``filters`` ((1, 2, 2, 4)).
        temporal_downsample: Which of the first levels halve time ((False, True, True): 4×).
        num_groups: GroupNorm groups (32).
    """

    @register_to_config
    def __init__(
        self,
        channels: int = 4,
        filters: int = 128,
        num_res_blocks: int = 4,
        channel_multipliers: tuple[int, ...] = (1, 2, 2, 4),
        temporal_downsample: tuple[bool, ...] = (False, True, True),
        num_groups: int = 32,
    ):
        super().__init__()
        if len(temporal_downsample) != len(channel_multipliers) - 1:
            raise ValueError(
                f"TemporalVAE: temporal_downsample {temporal_downsample} needs one entry per level but the last "
                f"({len(channel_multipliers) - 1} for channel_multipliers {channel_multipliers})"
            )
        self.time_factor = 2 ** sum(bool(d) for d in temporal_downsample)
        arguments = (channels, channels, filters, num_res_blocks, channel_multipliers, temporal_downsample, num_groups)
        self.encoder = TemporalEncoder(*arguments)
        self.quant_conv = CausalConv3d(2 * channels, 2 * channels, 1)
        self.post_quant_conv = CausalConv3d(channels, channels, 1)
        self.decoder = TemporalDecoder(*arguments)

    def latent_frames(self, frames: int) -> int:
        """Latent frames for ``frames`` input frames (padded in front to a multiple of the factor)."""
        return -(-frames // self.time_factor)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, C, T, H, W]`` image latents → (mean, log-variance clamped to [−30, 20]), ``[B, C, ⌈T/4⌉, H, W]`` each."""
        x = F.pad(x, (0, 0, 0, 0, -x.shape[2] % self.time_factor, 0))
        moments = self.quant_conv(self.encoder(x))
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``[B, C, T', H, W]`` → ``[B, C, num_frames, H, W]`` (the front padding cut off)."""
        x = self.decoder(self.post_quant_conv(z))
        return x[:, :, -num_frames % self.time_factor :]


class OpenSoraVAE(nn.Module):
    """The whole video VAE as the official ``OpenSora-VAE-v1.2`` file holds it.

    Args:
        spatial: diffusers `AutoencoderKL` (the SDXL VAE).
        temporal: `TemporalVAE`.
        micro_frame_size: Frames the temporal VAE takes at once (17).
        micro_batch_size: Frames the image VAE takes at once (4; lower it to save memory).
    """

    def __init__(self, spatial: AutoencoderKL, temporal: TemporalVAE, micro_frame_size: int = config.MICRO_FRAME_SIZE,
                 micro_batch_size: int = config.MICRO_BATCH_SIZE):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        self.micro_frame_size, self.micro_batch_size = micro_frame_size, micro_batch_size
        channels = temporal.config.channels
        self.register_buffer("latent_scale", torch.ones(1, channels, 1, 1, 1))
        self.register_buffer("latent_shift", torch.zeros(1, channels, 1, 1, 1))

    @classmethod
    def from_configs(cls, spatial: dict, temporal: dict, **kwargs) -> "OpenSoraVAE":
        """Built (random weights) from an `AutoencoderKL` and a `TemporalVAE` config (see `adapters.opensora.config`)."""
        vae = cls(AutoencoderKL(**spatial), TemporalVAE(**temporal), **kwargs)
        vae.latent_scale.copy_(torch.tensor(config.LATENT_SCALE)[None, :, None, None, None])
        vae.latent_shift.copy_(torch.tensor(config.LATENT_SHIFT)[None, :, None, None, None])
        return vae

    def latent_frames(self, frames: int) -> int:
        """Latent frames of a ``frames``-frame video (17 → 5, 51 → 15, 1 → 1)."""
        full, rest = divmod(frames, self.micro_frame_size)
        return full * self.temporal.latent_frames(self.micro_frame_size) + (self.temporal.latent_frames(rest) if rest else 0)

    def _frames_2d(self, x: torch.Tensor, run) -> torch.Tensor:
        b, _, t = x.shape[:3]
        frames = x.permute(0, 2, 1, 3, 4).flatten(0, 1)
        out = torch.cat([run(frames[i : i + self.micro_batch_size]) for i in range(0, frames.shape[0], self.micro_batch_size)])
        return out.unflatten(0, (b, t)).permute(0, 2, 1, 3, 4)

    def encode(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Encode, sampling both posteriors as upstream does.

        Args:
            video: ``[B, 3, T, H, W]`` in [−1, 1] (an image: T = 1).
            generator: Draws the posterior samples (CPU generator: the same numbers on every device).

        Returns:
            Normalized latents ``[B, 4, T', H/8, W/8]``.
        """
        def sample(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
            noise = torch.randn(mean.shape, generator=generator, dtype=torch.float32).to(mean.device, mean.dtype)
            return mean + torch.exp(0.5 * logvar) * noise

        def encode_2d(frames: torch.Tensor) -> torch.Tensor:
            moments = self.spatial.encode(frames).latent_dist
            return sample(moments.mean, moments.logvar) * config.SPATIAL_SCALING

        image_latents = self._frames_2d(video, encode_2d)
        chunks = [sample(*self.temporal.encode(image_latents[:, :, i : i + self.micro_frame_size]))
                  for i in range(0, image_latents.shape[2], self.micro_frame_size)]
        z = torch.cat(chunks, dim=2)
        return (z - self.latent_shift.to(z.dtype)) / self.latent_scale.to(z.dtype)

    def decode(self, z: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Normalized latents ``[B, 4, T', h, w]`` → video ``[B, 3, num_frames, 8h, 8w]`` in about [−1, 1]."""
        z = z * self.latent_scale.to(z.dtype) + self.latent_shift.to(z.dtype)
        chunk = self.temporal.latent_frames(self.micro_frame_size)
        pieces, remaining = [], num_frames
        for i in range(0, z.shape[2], chunk):
            pieces.append(self.temporal.decode(z[:, :, i : i + chunk], num_frames=min(self.micro_frame_size, remaining)))
            remaining -= self.micro_frame_size
        image_latents = torch.cat(pieces, dim=2)
        return self._frames_2d(image_latents, lambda frames: self.spatial.decode(frames / config.SPATIAL_SCALING).sample)
