"""STDiT3, Open-Sora 1.2's denoiser, written from its released config and the report.

A DiT over the VAE latent cut into 1×2×2 patches. Each of its ``depth`` layers is a
*spatial* block (attention among the patches of one frame) followed by a *temporal*
block (attention among the frames at one patch position, with rotary positions). Both
kinds modulate with the timestep (adaLN-single, as PixArt-α: one ``6·hidden`` vector
from the timestep, plus a learned table per block) and cross-attend to the T5 caption.
The timestep embedding also adds the frame rate's embedding.

Image and video conditioning works per latent frame: where ``frame_mask`` is False,
the frame is a given (clean) latent, and the block modulates it as at timestep 0.

Quirks of the released model this module keeps, since the weights expect them:

- the 2-D sin-cos position is scaled by the resolution: positions are
  ``arange(n) / scale · base / n`` with ``scale = √(height·width) / 512`` (pixels)
  and ``base = round(√(patches per frame))``, and the *width* coordinate fills the
  first half of the channels;
- the final layer modulates with the timestep embedding itself (not its 6× MLP), and
  for clean frames it layer-normalizes the tokens already modulated for noisy ones;
- the rotary frequencies are a stored tensor (``rope_freqs``) of the checkpoint;
- the unconditional caption (the learned ``null_caption``) is masked with the
  conditional prompt's token mask when both run in one batch (see `STDiT3Model.forward`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import PixArtAlphaTextProjection, TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import RMSNorm
from diffusers.utils import BaseOutput
from torch import nn


@dataclass
class STDiT3Output(BaseOutput):
    """Output of `STDiT3Model`.

    Attributes:
        sample: float32 ``[B, out_channels, T, H, W]``: the velocity in its first
            ``in_channels`` channels (and the unused learned-σ half after it).
    """

    sample: torch.Tensor


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention, heads second.

    Args:
        query: ``[B, heads, N, d]``.
        key, value: ``[B, heads, M, d]``.
        mask: Optional bool ``[B, 1, 1, M]``: True where a key may be attended to.

    Returns:
        ``[B, heads, N, d]``.
    """
    return F.scaled_dot_product_attention(query, key, value, attn_mask=mask)


def rotate_pairs(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding over adjacent channel pairs (2i, 2i+1).

    Args:
        x: ``[..., N, d]``.
        angles: ``[N, d/2]`` rotation angle of each pair at each position.

    Returns:
        ``x`` with pair i at position n rotated by ``angles[n, i]``.
    """
    pairs = x.unflatten(-1, (-1, 2))
    first, second = pairs.unbind(-1)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    rotated = torch.stack((first * cos - second * sin, second * cos + first * sin), dim=-1)
    return rotated.flatten(-2)


class SelfAttention(nn.Module):
    """Multi-head self-attention with RMS-normalized queries and keys (and rotary positions, if given).

    Args:
        dim: Channels.
        num_heads: Heads; ``dim / num_heads`` channels each.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.norm_q = RMSNorm(head_dim, eps=1e-6)
        self.norm_k = RMSNorm(head_dim, eps=1e-6)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rotary_angles: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, N, dim]`` → ``[B, N, dim]``; ``rotary_angles`` ``[N, head_dim/2]`` or None."""
        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

        query, key, value = heads(self.to_q(x)), heads(self.to_k(x)), heads(self.to_v(x))
        query, key = self.norm_q(query), self.norm_k(key)
        if rotary_angles is not None:
            query, key = rotate_pairs(query, rotary_angles), rotate_pairs(key, rotary_angles)
        out = attention(query, key, value)
        return self.to_out(out.transpose(1, 2).flatten(2))


class CrossAttention(nn.Module):
    """Multi-head attention from the video tokens to the caption tokens of the same sample.

    Args:
        dim: Channels of both.
        num_heads: Heads.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None) -> torch.Tensor:
        """Attend.

        Args:
            x: ``[B, N, dim]`` video tokens.
            context: ``[B, M, dim]`` projected caption tokens.
            context_mask: bool ``[B, M]``, True on real tokens (padding is ignored); None: all.

        Returns:
            ``[B, N, dim]``.
        """
        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

        mask = None if context_mask is None else context_mask[:, None, None, :]
        out = attention(heads(self.to_q(x)), heads(self.to_k(context)), heads(self.to_v(context)), mask)
        return self.to_out(out.transpose(1, 2).flatten(2))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


def per_frame(frame_mask: torch.Tensor | None, normal: torch.Tensor, clean: torch.Tensor | None, frames: int) -> torch.Tensor:
    """``normal`` on the frames where ``frame_mask`` is True, ``clean`` elsewhere (tokens ``[B, T·S, C]``)."""
    if frame_mask is None:
        return normal
    shape = normal.shape
    chosen = torch.where(frame_mask[:, :, None, None], normal.unflatten(1, (frames, -1)), clean.unflatten(1, (frames, -1)))
    return chosen.reshape(shape)


class STDiT3Block(nn.Module):
    """One spatial or temporal block: modulated self-attention, cross-attention, modulated MLP.

    Args:
        dim: Channels.
        num_heads: Heads.
        mlp_ratio: MLP hidden channels over ``dim``.
        temporal: Attend along time (per patch position) instead of space (per frame).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, temporal: bool):
        super().__init__()
        self.temporal = temporal
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.attn = SelfAttention(dim, num_heads)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.ff = FeedForward(dim, inner_dim=int(dim * mlp_ratio), activation_fn="gelu-approximate")
        # Added to the timestep's 6·dim vector: shift, scale, gate of the attention, then of the MLP.
        self.scale_shift_table = nn.Parameter(torch.zeros(6, dim))

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor | None,
        time: torch.Tensor,
        frames: int,
        frame_mask: torch.Tensor | None = None,
        time_clean: torch.Tensor | None = None,
        rotary_angles: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the block.

        Args:
            x: ``[B, T·S, dim]`` tokens, frame-major.
            context: ``[B, M, dim]`` caption tokens; ``context_mask`` bool ``[B, M]`` or None.
            time: ``[B, 6·dim]`` the timestep's modulation vector.
            frames: T.
            frame_mask: bool ``[B, T]``: False on given (clean) frames, modulated with
                ``time_clean`` (timestep 0) instead; None: every frame is noisy.
            time_clean: ``[B, 6·dim]`` modulation at timestep 0 (with ``frame_mask``).
            rotary_angles: ``[T, head_dim/2]`` for the temporal block.

        Returns:
            ``[B, T·S, dim]``.
        """
        batch, tokens, dim = x.shape
        mod = (self.scale_shift_table[None] + time.reshape(batch, 6, dim)).chunk(6, dim=1)
        mod0 = None
        if frame_mask is not None:
            mod0 = (self.scale_shift_table[None] + time_clean.reshape(batch, 6, dim)).chunk(6, dim=1)

        def pick(normal: torch.Tensor, make_clean) -> torch.Tensor:
            return per_frame(frame_mask, normal, make_clean() if mod0 is not None else None, frames)

        normed = self.norm1(x)
        h = pick(modulate(normed, mod[0], mod[1]), lambda: modulate(normed, mod0[0], mod0[1]))
        if self.temporal:
            h = h.unflatten(1, (frames, -1)).transpose(1, 2).flatten(0, 1)  # [B·S, T, dim]
            h = self.attn(h, rotary_angles)
            h = h.unflatten(0, (batch, -1)).transpose(1, 2).flatten(1, 2)
        else:
            h = self.attn(h.unflatten(1, (frames, -1)).flatten(0, 1))  # [B·T, S, dim]
            h = h.unflatten(0, (batch, frames)).flatten(1, 2)
        x = x + pick(mod[2] * h, lambda: mod0[2] * h)
        x = x + self.cross_attn(x, context, context_mask)
        normed = self.norm2(x)
        h = self.ff(pick(modulate(normed, mod[3], mod[4]), lambda: modulate(normed, mod0[3], mod0[4])))
        return x + pick(mod[5] * h, lambda: mod0[5] * h)


class STDiT3Model(ModelMixin, ConfigMixin):
    """Open-Sora 1.2's spatial-temporal DiT (STDiT3-XL/2 at the published config).

    Args:
        in_channels: Latent channels (4).
        hidden_size: Token channels (1152).
        depth: Spatial-temporal block pairs (28).
        num_heads: Attention heads (16).
        mlp_ratio: MLP expansion (4.0).
        patch_size: (t, h, w) latent patch (1, 2, 2).
        caption_channels: Text encoder channels (T5-XXL: 4096).
        caption_tokens: Length of the learned null caption = the text length (300).
        input_sq_size: Reference side for the position scale (512 px).
        learn_sigma: Output twice ``in_channels`` (the released model does; only the
            first half, the velocity, is used for sampling).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        hidden_size: int = 1152,
        depth: int = 28,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        caption_channels: int = 4096,
        caption_tokens: int = 300,
        input_sq_size: int = 512,
        learn_sigma: bool = True,
    ):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"STDiT3Model: hidden_size={hidden_size} must be a multiple of num_heads={num_heads}")
        if hidden_size % 4 or (hidden_size // num_heads) % 2:
            raise ValueError(
                f"STDiT3Model: hidden_size={hidden_size} must be a multiple of 4 (2-D sin-cos positions) and its head "
                f"size {hidden_size // num_heads} even (rotary pairs)"
            )
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        head_dim = hidden_size // num_heads
        self.patch_embed = nn.Conv3d(in_channels, hidden_size, kernel_size=tuple(patch_size), stride=tuple(patch_size))
        self.time_proj = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(256, hidden_size)
        self.fps_embed = TimestepEmbedding(256, hidden_size)
        self.time_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))
        self.caption_projection = PixArtAlphaTextProjection(caption_channels, hidden_size, act_fn="gelu_tanh")
        # Stored in the checkpoint: the caption of classifier-free guidance's unconditional branch.
        self.register_buffer("null_caption", torch.zeros(caption_tokens, caption_channels))
        # Stored in the checkpoint too (the standard 1/10000^(2i/d), but loaded, not recomputed).
        self.register_buffer("rope_freqs", 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)))
        self.spatial_blocks = nn.ModuleList(STDiT3Block(hidden_size, num_heads, mlp_ratio, temporal=False) for _ in range(depth))
        self.temporal_blocks = nn.ModuleList(STDiT3Block(hidden_size, num_heads, mlp_ratio, temporal=True) for _ in range(depth))
        self.norm_out = nn.LayerNorm(hidden_size, eps=1e-6, elementwise_affine=False)
        self.out_scale_shift_table = nn.Parameter(torch.zeros(2, hidden_size))
        self.proj_out = nn.Linear(hidden_size, patch_size[0] * patch_size[1] * patch_size[2] * self.out_channels)

    # -- embeddings --------------------------------------------------------------
    def position_embedding(self, rows: int, cols: int, height: float, width: float, dtype: torch.dtype, device) -> torch.Tensor:
        """The 2-D sin-cos position of each patch of a frame: ``[rows·cols, hidden]``.

        Args:
            rows, cols: Patches along H and W.
            height, width: Pixel size of the video (sets the position scale).
        """
        dim = self.config.hidden_size
        scale = (height * width) ** 0.5 / self.config.input_sq_size
        base = round((rows * cols) ** 0.5)
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim // 2, 2, device=device).float() / (dim // 2)))
        y = torch.arange(rows, device=device) / scale * (base / rows)
        x = torch.arange(cols, device=device) / scale * (base / cols)
        grid_y, grid_x = torch.meshgrid(y, x, indexing="ij")

        def sincos(coords: torch.Tensor) -> torch.Tensor:
            angles = coords.reshape(-1)[:, None] * inv_freq[None]
            return torch.cat((angles.sin(), angles.cos()), dim=-1)

        # NOTE: the width coordinate comes first in the channels (stdit3's PositionEmbedding2D).
        return torch.cat((sincos(grid_x), sincos(grid_y)), dim=-1).to(dtype)

    def time_embedding(self, timestep: torch.Tensor, fps: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``[B]`` timesteps (0..1000) and frame rates → ``[B, hidden]``."""
        time = self.time_embed(self.time_proj(timestep).to(dtype))
        return time + self.fps_embed(self.time_proj(fps).to(dtype))

    def rotary_angles(self, frames: int, device) -> torch.Tensor:
        """``[T, head_dim/2]``: angle of each channel pair at latent frame t."""
        positions = torch.arange(frames, device=device, dtype=self.rope_freqs.dtype)
        return positions[:, None] * self.rope_freqs[None]

    # -- forward -----------------------------------------------------------------
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        fps: torch.Tensor | None = None,
        height: float = 256.0,
        width: float = 256.0,
        frame_mask: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> STDiT3Output | tuple[torch.Tensor]:
        """Predict the flow velocity.

        Args:
            hidden_states: ``[B, in_channels, T, H, W]`` noisy latent (any float dtype).
            timestep: ``[B]`` in [0, 1000] (1000 = pure noise).
            encoder_hidden_states: ``[B, M, caption_channels]`` T5 states; pass
                `null_caption` (expanded) for the unconditional branch.
            encoder_attention_mask: bool or 0/1 ``[B, M]``: the real tokens; None = all.
                NOTE: upstream masks the null caption with the prompt's mask; give the
                unconditional rows the conditional rows' mask to reproduce it.
            fps: ``[B]`` frame rate of the video (24 for Open-Sora 1.2); default 24.
            height, width: Pixel size of the video being generated (sets the position
                scale; 256 at the benchmark's size).
            frame_mask: bool ``[B, T]``: False on latent frames that are given (a
                reference image), which are treated as clean (timestep 0); None = all noisy.
            return_dict: Return an `STDiT3Output` (else a tuple).

        Returns:
            float32 ``[B, out_channels, T, H, W]``.
        """
        dtype = self.patch_embed.weight.dtype
        batch, _, frames_in, height_in, width_in = hidden_states.shape
        pt, ph, pw = self.config.patch_size
        x = hidden_states.to(dtype)
        # Pad to whole patches at the end of each axis, as the released patch embedder does.
        x = F.pad(x, (0, -width_in % pw, 0, -height_in % ph, 0, -frames_in % pt))
        x = self.patch_embed(x)  # [B, C, T, H', W']
        frames, rows, cols = x.shape[2:]
        x = x.flatten(2).transpose(1, 2)  # [B, T·S, C]
        position = self.position_embedding(rows, cols, float(height), float(width), dtype, x.device)
        x = (x.unflatten(1, (frames, rows * cols)) + position).flatten(1, 2)

        if fps is None:
            fps = torch.full((batch,), 24.0, device=x.device)
        timestep = timestep.to(x.device).to(dtype)
        fps = fps.to(x.device).to(dtype)
        time = self.time_embedding(timestep, fps, dtype)
        time_mod = self.time_modulation(time)
        time_clean = time_mod_clean = None
        if frame_mask is not None:
            frame_mask = frame_mask.to(x.device).bool()
            time_clean = self.time_embedding(torch.zeros_like(timestep), fps, dtype)
            time_mod_clean = self.time_modulation(time_clean)

        context = self.caption_projection(encoder_hidden_states.to(dtype))
        context_mask = None if encoder_attention_mask is None else encoder_attention_mask.to(x.device).bool()
        angles = self.rotary_angles(frames, x.device)
        for spatial, temporal in zip(self.spatial_blocks, self.temporal_blocks):
            x = spatial(x, context, context_mask, time_mod, frames, frame_mask, time_mod_clean)
            x = temporal(x, context, context_mask, time_mod, frames, frame_mask, time_mod_clean, angles)

        shift, scale = (self.out_scale_shift_table[None] + time[:, None]).chunk(2, dim=1)
        normed = self.norm_out(x)
        out = modulate(normed, shift, scale)
        if frame_mask is not None:
            shift0, scale0 = (self.out_scale_shift_table[None] + time_clean[:, None]).chunk(2, dim=1)
            # NOTE: upstream's T2IFinalLayer normalizes the already-modulated tokens again
            # for the clean frames (it reassigns x before computing x_zero); kept.
            out = per_frame(frame_mask, out, modulate(self.norm_out(out), shift0, scale0), frames)
        out = self.proj_out(out)
        # Unpatchify: [B, (T H' W'), (pt ph pw C)] -> [B, C, T·pt, H'·ph, W'·pw], then crop the padding.
        out = out.reshape(batch, frames, rows, cols, pt, ph, pw, self.out_channels)
        out = out.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(batch, self.out_channels, frames * pt, rows * ph, cols * pw)
        out = out[:, :, :frames_in, :height_in, :width_in].float()
        return STDiT3Output(sample=out) if return_dict else (out,)
