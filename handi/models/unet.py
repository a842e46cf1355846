"""HANDI's noise predictor: AnimateAnything's mask- and motion-conditioned ModelScope UNet.

The network is ModelScope's 1.7 B text-to-video `UNet3DConditionModel`, which HANDI takes
from AnimateAnything (Dai et al. 2023) unchanged and fine-tunes. Three things set it apart
from diffusers' `UNet3DConditionModel`:

- the clean latent of the context image is prepended along time as frame 0, so attention
  and temporal convolutions see it, and its prediction is dropped from the output;
- a second input convolution, `conv_in2`, reads one more channel in front of the latents:
  the motion-area mask, the same on every frame;
- the motion strength goes through a sinusoidal projection (`motion_proj`) into the
  time embedding's `cond_proj`, added to the timestep embedding.

It is built from diffusers' own 3D blocks, with the upstream module names, so the released
`unet/` folders (AnimateAnything's `animate_anything_512_v1.02`, HANDI's fine-tunes) load
with `from_pretrained` by their own key names.

Upstream: https://github.com/alibaba/animate-anything/blob/main/models/unet_3d_condition_mask.py
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
from diffusers.models.unets.unet_3d_blocks import UNetMidBlock3DCrossAttn, get_down_block, get_up_block
from diffusers.models.unets.unet_3d_condition import UNet3DConditionOutput

logger = logging.getLogger(__name__)

__all__ = ["HandiUNet3DConditionModel", "UNet3DConditionOutput"]

# ModelScope's input temporal transformer has 8 heads whatever the width (upstream constant).
_TRANSFORMER_IN_HEADS = 8


class HandiUNet3DConditionModel(ModelMixin, ConfigMixin):
    r"""A text-, image- and mask-conditioned 3D UNet that predicts the noise of video latents.

    Inputs per video: F noisy target latents, the clean latent of the context image, the
    text states, optionally a motion-area mask and a motion strength. Inside, the context
    latent becomes frame 0 of an (F+1)-frame clip; the output is the prediction for the F
    target frames only.

    Mask channel: when `motion_mask` is set and a mask is given, the input convolution is
    `conv_in2`, whose 5 input channels are the mask first, then the 4 latent channels; the
    single mask is repeated over all F+1 frames, the context frame included. Without a mask
    the model uses `conv_in` (4 channels), as the text-to-video model it started from.
    AnimateAnything trains with a binary mask at latent resolution (resized, thresholded at
    0.5), 1 inside the region that may move and 0 elsewhere (outside it, the clean target
    latents are replaced by the context latent before noising); HANDI's motion-area mask is
    passed the same way.

    Motion strength: when `motion_strength` is set and `motion` is given, the scalar goes
    through `motion_proj` (sinusoidal, like a timestep) into `time_embedding.cond_proj` and
    is added to the timestep embedding. Upstream trains it with the target latents' own
    score, `10 * sum_c mean_{f,h,w} |z[:, c, f+1] - z[:, c, f]|` (`calculate_latent_motion_score`
    in AnimateAnything's `utils/common.py`), and samples with a value the user picks
    (`strength` in its validation config). `motion_embedding` (Linear, SiLU, Linear) exists in
    the released checkpoints but upstream's forward never uses it; it is kept, unused, so
    their state dicts load with no missing or unexpected keys.

    Parameters:
        sample_size (`int`, *optional*, defaults to `None`): Height and width of the latent
            sample (recorded only; other sizes run too).
        in_channels (`int`, *optional*, defaults to 4): Latent channels of `sample` and of
            `condition_latent`; `conv_in2` reads `in_channels + 1` (mask first).
        out_channels (`int`, *optional*, defaults to 4): Channels of the prediction.
        down_block_types (`tuple[str]`, *optional*, defaults to
            `("CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D")`):
            Diffusers 3D down blocks, one per level.
        up_block_types (`tuple[str]`, *optional*, defaults to
            `("UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D")`):
            Diffusers 3D up blocks, one per level.
        block_out_channels (`tuple[int]`, *optional*, defaults to `(320, 640, 1280, 1280)`):
            Width of each level.
        layers_per_block (`int`, *optional*, defaults to 2): ResNet layers per down block
            (up blocks get one more).
        downsample_padding (`int`, *optional*, defaults to 1): Padding of the down-sampling
            convolutions.
        mid_block_scale_factor (`float`, *optional*, defaults to 1.0): Output scale of the
            mid block's ResNets.
        act_fn (`str`, *optional*, defaults to `"silu"`): Activation of ResNets and the time
            embedding.
        norm_num_groups (`int`, *optional*, defaults to 32): GroupNorm groups; `None` skips
            the output norm and activation. `transformer_in` always uses 32 groups, as
            upstream does.
        norm_eps (`float`, *optional*, defaults to 1e-5): GroupNorm epsilon.
        cross_attention_dim (`int`, *optional*, defaults to 1024): Width of the text states.
        attention_head_dim (`int`, *optional*, defaults to 64): Channels per attention head
            (a level of width C has C // attention_head_dim heads; `transformer_in` has 8).
        motion_mask (`bool`, *optional*, defaults to `False`): Accept a motion-area mask
            through `conv_in2`.
        motion_strength (`bool`, *optional*, defaults to `False`): Accept a motion strength
            through `motion_proj` and `time_embedding.cond_proj`.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 4,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlock3D",
            "CrossAttnDownBlock3D",
            "CrossAttnDownBlock3D",
            "DownBlock3D",
        ),
        up_block_types: tuple[str, ...] = ("UpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        layers_per_block: int = 2,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1.0,
        act_fn: str = "silu",
        norm_num_groups: int | None = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int = 1024,
        attention_head_dim: int = 64,
        motion_mask: bool = False,
        motion_strength: bool = False,
    ):
        super().__init__()
        if len(down_block_types) != len(up_block_types):
            raise ValueError(
                f"down_block_types and up_block_types need one entry per level each; got "
                f"down_block_types={tuple(down_block_types)} and up_block_types={tuple(up_block_types)}."
            )
        if len(block_out_channels) != len(down_block_types):
            raise ValueError(
                f"block_out_channels needs one width per level; got block_out_channels={tuple(block_out_channels)} "
                f"for down_block_types={tuple(down_block_types)}."
            )
        if not isinstance(attention_head_dim, int):
            raise ValueError(
                f"attention_head_dim must be one int (channels per head, shared by every level and "
                f"transformer_in, as in the released config); got {attention_head_dim!r}."
            )
        self.gradient_checkpointing = False

        width = block_out_channels[0]
        time_embed_dim = width * 4

        # 1. Input convolutions: latents only, or the mask channel followed by the latents.
        self.conv_in = nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.conv_in2 = nn.Conv2d(in_channels + 1, width, kernel_size=3, padding=1)

        # 2. Timestep embedding; its cond_proj carries the motion strength.
        self.time_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(width, time_embed_dim, act_fn=act_fn, cond_proj_dim=width)
        self.motion_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
        # Unused by forward (as upstream); present so released state dicts load strictly.
        self.motion_embedding = nn.Sequential(
            nn.Linear(width, time_embed_dim), nn.SiLU(), nn.Linear(time_embed_dim, time_embed_dim)
        )
        nn.init.zeros_(self.motion_embedding[-1].weight)
        nn.init.zeros_(self.motion_embedding[-1].bias)

        # NOTE: upstream leaves transformer_in at TransformerTemporalModel's default of 32
        # groups (diffusers' own UNet3DConditionModel passes norm_num_groups instead).
        self.transformer_in = TransformerTemporalModel(
            num_attention_heads=_TRANSFORMER_IN_HEADS,
            attention_head_dim=attention_head_dim,
            in_channels=width,
            num_layers=1,
        )

        # 3. Down path. Diffusers' 3D blocks call their argument `num_attention_heads` but
        # use it as channels per head (heads = width // it), which is upstream's meaning too.
        # Settings every down, mid and up block shares.
        shared = dict(
            temb_channels=time_embed_dim, resnet_eps=norm_eps, resnet_act_fn=act_fn, cross_attention_dim=cross_attention_dim,
            num_attention_heads=attention_head_dim, dual_cross_attention=False,
        )
        self.down_blocks = nn.ModuleList([])
        output_channel = width
        for i, down_block_type in enumerate(down_block_types):
            input_channel = output_channel
            output_channel = block_out_channels[i]
            self.down_blocks.append(
                get_down_block(
                    down_block_type,
                    num_layers=layers_per_block,
                    in_channels=input_channel,
                    out_channels=output_channel,
                    add_downsample=i != len(block_out_channels) - 1,
                    resnet_groups=norm_num_groups,
                    downsample_padding=downsample_padding,
                    **shared,
                )
            )

        # 4. Middle.
        self.mid_block = UNetMidBlock3DCrossAttn(
            in_channels=block_out_channels[-1],
            output_scale_factor=mid_block_scale_factor,
            resnet_groups=norm_num_groups,
            **shared,
        )

        # 5. Up path.
        self.up_blocks = nn.ModuleList([])
        self.num_upsamplers = 0
        reversed_channels = list(reversed(block_out_channels))
        output_channel = reversed_channels[0]
        for i, up_block_type in enumerate(up_block_types):
            is_final_block = i == len(block_out_channels) - 1
            prev_output_channel = output_channel
            output_channel = reversed_channels[i]
            input_channel = reversed_channels[min(i + 1, len(block_out_channels) - 1)]
            if not is_final_block:
                self.num_upsamplers += 1
            self.up_blocks.append(
                get_up_block(
                    up_block_type,
                    num_layers=layers_per_block + 1,
                    in_channels=input_channel,
                    out_channels=output_channel,
                    prev_output_channel=prev_output_channel,
                    add_upsample=not is_final_block,
                    resnet_groups=norm_num_groups,
                    resolution_idx=i,
                    **shared,
                )
            )

        # 6. Output.
        if norm_num_groups is not None:
            self.conv_norm_out = nn.GroupNorm(num_channels=width, num_groups=norm_num_groups, eps=norm_eps)
            self.conv_act = nn.SiLU()
        else:
            self.conv_norm_out = None
            self.conv_act = None
        self.conv_out = nn.Conv2d(width, out_channels, kernel_size=3, padding=1)

    def _call(self, module: nn.Module, *args: Any) -> Any:
        """Runs `module(*args)`, through diffusers' checkpointing function when it is enabled.

        `enable_gradient_checkpointing()` sets `gradient_checkpointing` and
        `_gradient_checkpointing_func` on this model (and on every submodule that has the
        flag). Diffusers' 3D blocks ignore their own flag, so this model checkpoints each
        block from here: activations inside a block are recomputed in the backward pass.
        """
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(module, *args)
        return module(*args)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        condition_latent: torch.Tensor,
        mask: torch.Tensor | None = None,
        motion: torch.Tensor | float | None = None,
        return_dict: bool = True,
    ) -> UNet3DConditionOutput | tuple[torch.Tensor]:
        r"""Predicts the noise of F target latents, given the context latent and conditions.

        Args:
            sample: Noisy target latents, float `[B, C, F, h, w]` (C = `in_channels`, h and w
                at latent resolution, divisible by 2 ** (levels - 1) for the fastest path).
            timestep: Diffusion step(s): an int or float, a 0-d tensor, or a `[B]` (or `[1]`)
                tensor; broadcast over the batch.
            encoder_hidden_states: Text states, float `[B, S, cross_attention_dim]`, one row
                per video (for classifier-free guidance, the unconditional rows too).
            condition_latent: Clean latent of the context image, float `[B, C, 1, h, w]`,
                prepended along time as frame 0.
            mask: Motion-area mask at latent resolution, float `[B, 1, 1, h, w]` (or
                `[1, 1, 1, h, w]` for the whole batch), 1 where motion may happen, 0
                elsewhere; repeated over all F+1 frames and read by `conv_in2`. `None` uses
                `conv_in` (no mask channel).
            motion: Motion strength: `None`, a float, or a `[B]` (or 0-d / `[1]`) tensor;
                embedded like a timestep and added through `time_embedding.cond_proj`.
            return_dict: Return a `UNet3DConditionOutput` rather than a 1-tuple.

        Returns:
            `UNet3DConditionOutput` whose `sample` is the prediction, float
            `[B, out_channels, F, h, w]` (the context frame dropped), or `(sample,)`.

        Raises:
            ValueError: On inconsistent shapes, or a mask / motion given to a model whose
                config does not take it (`motion_mask` / `motion_strength` is False).
        """
        batch, channels, target_frames, height, width = self._check_inputs(
            sample, encoder_hidden_states, condition_latent, mask
        )
        num_frames = target_frames + 1
        sample = torch.cat([condition_latent.to(sample.dtype), sample], dim=2)

        # 1. Time and motion strength -> one embedding per video, repeated per frame.
        timesteps = _batch_vector(timestep, batch, sample.device, "timestep")
        t_emb = self.time_proj(timesteps).to(dtype=self.dtype)
        motion_cond = None
        if motion is not None:
            if not self.config.motion_strength:
                raise ValueError(
                    "motion was given but this model's config has motion_strength=False, so it has no "
                    "trained motion input; pass motion=None, or load a checkpoint trained with motion_strength=True."
                )
            motion_cond = self.motion_proj(_batch_vector(motion, batch, sample.device, "motion")).to(dtype=self.dtype)
        emb = self.time_embedding(t_emb, motion_cond)
        emb = emb.repeat_interleave(num_frames, dim=0)
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(num_frames, dim=0)

        # 2. Input convolution over every frame: [B, C(+1), F+1, h, w] -> [B*(F+1), width, h, w].
        if mask is not None:
            mask = mask.to(sample.dtype).expand(batch, 1, num_frames, height, width)
            sample = torch.cat([mask, sample], dim=1)
        sample = sample.permute(0, 2, 1, 3, 4).reshape(batch * num_frames, -1, height, width)
        sample = self.conv_in2(sample) if mask is not None else self.conv_in(sample)
        sample = self._call(self.transformer_in, sample, None, None, None, num_frames, None, False)[0]

        # 3. Down.
        # Sizes not divisible by the up-sampling factor need each up block told its target size.
        forward_upsample_size = any(s % 2**self.num_upsamplers != 0 for s in (height, width))
        down_block_res_samples = (sample,)
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                sample, res_samples = self._call(block, sample, emb, encoder_hidden_states, None, num_frames, None)
            else:
                sample, res_samples = self._call(block, sample, emb, num_frames)
            down_block_res_samples += res_samples

        # 4. Middle.
        sample = self._call(self.mid_block, sample, emb, encoder_hidden_states, None, num_frames, None)

        # 5. Up, consuming the skip connections from the deepest.
        for i, block in enumerate(self.up_blocks):
            res_samples = down_block_res_samples[-len(block.resnets) :]
            down_block_res_samples = down_block_res_samples[: -len(block.resnets)]
            upsample_size = None
            if forward_upsample_size and i != len(self.up_blocks) - 1:
                upsample_size = down_block_res_samples[-1].shape[2:]
            if getattr(block, "has_cross_attention", False):
                sample = self._call(
                    block, sample, res_samples, emb, encoder_hidden_states, upsample_size, None, num_frames, None
                )
            else:
                sample = self._call(block, sample, res_samples, emb, upsample_size, num_frames)

        # 6. Output, back to [B, out_channels, F+1, h, w]; the context frame's prediction is dropped.
        if self.conv_norm_out is not None:
            sample = self.conv_act(self.conv_norm_out(sample))
        sample = self.conv_out(sample)
        sample = sample.reshape(batch, num_frames, -1, height, width).permute(0, 2, 1, 3, 4)
        sample = sample[:, :, 1:]

        if not return_dict:
            return (sample,)
        return UNet3DConditionOutput(sample=sample)

    def _check_inputs(
        self,
        sample: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        condition_latent: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> tuple[int, int, int, int, int]:
        """Checks the forward's tensors against each other; returns `sample`'s `[B, C, F, h, w]`."""
        if sample.ndim != 5:
            raise ValueError(f"sample must be [B, C, F, h, w]; got shape {tuple(sample.shape)}.")
        batch, channels, frames, height, width = sample.shape
        if channels != self.config.in_channels:
            raise ValueError(
                f"sample has {channels} channels but the model's in_channels is {self.config.in_channels}."
            )
        expected = (batch, channels, 1, height, width)
        if tuple(condition_latent.shape) != expected:
            raise ValueError(
                f"condition_latent must be [B, C, 1, h, w] = {list(expected)} to match sample "
                f"{list(sample.shape)}; got {list(condition_latent.shape)}."
            )
        if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[0] != batch:
            raise ValueError(
                f"encoder_hidden_states must be [B, S, D] with B = {batch} (one row per video, the "
                f"classifier-free-guidance rows included); got {list(encoder_hidden_states.shape)}."
            )
        if mask is not None:
            if not self.config.motion_mask:
                raise ValueError(
                    "mask was given but this model's config has motion_mask=False, so conv_in2 is untrained; "
                    "pass mask=None, or load a checkpoint trained with motion_mask=True."
                )
            if mask.ndim != 5 or mask.shape[0] not in (1, batch) or tuple(mask.shape[1:]) != (1, 1, height, width):
                raise ValueError(
                    f"mask must be [B, 1, 1, h, w] (or [1, 1, 1, h, w]) at latent resolution, with B = {batch}, "
                    f"h = {height}, w = {width}; got {list(mask.shape)}."
                )
        return batch, channels, frames, height, width


def _batch_vector(value: torch.Tensor | float | int, batch: int, device: torch.device, name: str) -> torch.Tensor:
    """One value per video, `[B]`, from a Python number, a 0-d, `[1]` or `[B]` tensor."""
    tensor = torch.as_tensor(value, device=device)
    if tensor.ndim == 0:
        tensor = tensor[None]
    if tensor.ndim != 1 or tensor.shape[0] not in (1, batch):
        raise ValueError(f"{name} must be a number, a 0-d tensor, or a [B] tensor with B = {batch}; got shape "
                         f"{list(tensor.shape)}.")
    return tensor.expand(batch)
