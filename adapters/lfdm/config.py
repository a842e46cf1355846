"""LFDM's published and tiny configurations, as plain dataclasses.

Every published value cites where it comes from in the upstream repository
(github.com/nihaomiao/CVPR23_LFDM at commit 36016353d4c0ce99f2eba17078226f24e9ecc289):

- ``config/mug128.yaml`` ``model_params`` (the LFAE; ``mhad128.yaml`` and
  ``natops128.yaml`` differ only in the region predictor's ``pad: 0``);
- ``DM/modules/video_flow_diffusion_model.py`` ``FlowDiffusion.__init__`` (the 3D UNet
  built as ``Unet3D(dim=64, channels=3 + 256, dim_mults=(1, 2, 4, 8), use_bert_text_cond=True)``
  and its ``GaussianDiffusion(timesteps=1000, loss_type='l2', use_dynamic_thres=True)``);
- ``DM/modules/video_flow_diffusion.py`` ``Unet3D`` / ``GaussianDiffusion`` defaults
  (attention heads 8 × 32, 8 GroupNorm groups, cosine schedule, 0.9 dynamic-threshold
  percentile);
- ``demo/demo_mug.py`` (inference: 128², 40 frames, 1000 ancestral steps, cond scale 1)
  and ``DM/train_video_flow_diffusion_mug.py`` (training: lr 2e-4, batch 5,
  Adam betas (0.9, 0.99), null-condition probability 0.1 for joint training).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LFAEConfig:
    """The latent flow autoencoder (MRAA's region predictor, background predictor and generator).

    Attributes:
        num_regions: Motion regions (``model_params.num_regions``: 10).
        num_channels: Image channels (3).
        revert_axis_swap: Undo SVD axis swaps between source and driving (True).
        region_block_expansion / region_max_features / region_num_blocks: The region
            predictor's hourglass (32, 1024, 5).
        region_temperature: Softmax temperature of the region heatmaps (0.1).
        region_scale_factor: The region predictor runs on the image scaled by this (0.25).
        region_pad: Padding of its 7×7 region conv (3 for MUG; 0 for MHAD and NATOPS).
        bg_block_expansion / bg_max_features / bg_num_blocks: The background motion
            encoder (32, 1024, 5); it predicts an affine background motion.
        gen_block_expansion / gen_max_features / gen_num_down_blocks /
            gen_num_bottleneck_blocks: The Johnson-style generator (64, 512, 2, 6); its
            bottleneck, ``gen_block_expansion · 2^gen_num_down_blocks`` channels at
            1/2^down of the image, is the feature map the diffusion conditions on.
        flow_block_expansion / flow_max_features / flow_num_blocks / flow_scale_factor:
            The pixelwise flow predictor's hourglass (64, 1024, 5) at 0.25 scale.
    """

    num_regions: int = 10
    num_channels: int = 3
    revert_axis_swap: bool = True
    region_block_expansion: int = 32
    region_max_features: int = 1024
    region_num_blocks: int = 5
    region_temperature: float = 0.1
    region_scale_factor: float = 0.25
    region_pad: int = 3
    bg_block_expansion: int = 32
    bg_max_features: int = 1024
    bg_num_blocks: int = 5
    gen_block_expansion: int = 64
    gen_max_features: int = 512
    gen_num_down_blocks: int = 2
    gen_num_bottleneck_blocks: int = 6
    flow_block_expansion: int = 64
    flow_max_features: int = 1024
    flow_num_blocks: int = 5
    flow_scale_factor: float = 0.25

    @property
    def feature_channels(self) -> int:
        """Channels of the generator's bottleneck (the diffusion's image condition)."""
        return min(self.gen_max_features, self.gen_block_expansion * 2**self.gen_num_down_blocks)


@dataclass(frozen=True)
class UNetConfig:
    """The 3D UNet that denoises flow + occlusion maps (``Unet3D`` upstream).

    Attributes:
        dim: Base width (64).
        dim_mults: Width multipliers per resolution ((1, 2, 4, 8)).
        feature_channels: Image-feature channels concatenated to the 3 noisy channels
            (256 = the LFAE bottleneck).
        text_dim: Text embedding width (768: BERT-base).
        attn_heads: Heads of every attention (8).
        temporal_dim_head: Head width of the temporal attentions (32); the rotary
            embedding rotates ``min(32, temporal_dim_head)`` features.
        spatial_dim_head: Head width of the spatial (linear and mid) attentions; fixed
            at 32 upstream (not passed through).
        resnet_groups: GroupNorm groups (8).
        num_buckets / max_distance: Relative time-position bias (32 buckets, 32 frames).
        learn_null_cond: A learned null text embedding (False: zeros).
    """

    dim: int = 64
    dim_mults: tuple[int, ...] = (1, 2, 4, 8)
    feature_channels: int = 256
    text_dim: int = 768
    attn_heads: int = 8
    temporal_dim_head: int = 32
    spatial_dim_head: int = 32
    resnet_groups: int = 8
    num_buckets: int = 32
    max_distance: int = 32
    learn_null_cond: bool = False


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule, sampling and loss (``GaussianDiffusion`` upstream).

    Attributes:
        timesteps: Training steps of the cosine schedule (1000).
        dynamic_threshold_percentile: Percentile of |x0| used to clip predictions (0.9).
        null_cond_prob: Probability of dropping the text in training (0.1, joint training).
        ddim_eta: DDIM eta when fewer than ``timesteps`` steps are asked (1.0).
    """

    timesteps: int = 1000
    dynamic_threshold_percentile: float = 0.9
    null_cond_prob: float = 0.1
    ddim_eta: float = 1.0


@dataclass(frozen=True)
class LFDMConfig:
    """A whole LFDM: LFAE + 3D UNet + diffusion + the native video it makes.

    Attributes:
        image_size: Native frame size (128).
        num_frames: Frames generated, the first one being the condition frame's own
            reconstruction (40 in the demos).
        sampling_steps: Default steps (1000 = the ancestral sampler the demos use;
            fewer = DDIM with ``ddim_eta``).
        cond_scale: Classifier-free guidance scale (1.0 in the demos: no guidance).
        text_encoder: Hub id of the text encoder (bert-base-cased).
    """

    lfae: LFAEConfig = field(default_factory=LFAEConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    image_size: int = 128
    num_frames: int = 40
    sampling_steps: int = 1000
    cond_scale: float = 1.0
    text_encoder: str = "bert-base-cased"

    def __post_init__(self) -> None:
        if self.unet.feature_channels != self.lfae.feature_channels:
            raise ValueError(
                f"LFDMConfig: unet.feature_channels={self.unet.feature_channels} must equal the LFAE bottleneck's "
                f"{self.lfae.feature_channels} channels (gen_block_expansion · 2^gen_num_down_blocks)"
            )
        if self.image_size % 2**self.lfae.gen_num_down_blocks:
            raise ValueError(f"LFDMConfig: image_size={self.image_size} must be divisible by 2^gen_num_down_blocks")

    @property
    def flow_size(self) -> int:
        """Side of the flow / occlusion maps the diffusion works on (image / 4 = 32 at 128²)."""
        return self.image_size // 2**self.lfae.gen_num_down_blocks

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``config.json`` and the run config)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LFDMConfig":
        """The inverse of `to_dict` (unknown keys are an error, naming them)."""
        data = dict(data)
        parts = {"lfae": LFAEConfig, "unet": UNetConfig, "diffusion": DiffusionConfig}
        kwargs: dict[str, Any] = {}
        for name, klass in parts.items():
            values = dict(data.pop(name, {}))
            if "dim_mults" in values:
                values["dim_mults"] = tuple(values["dim_mults"])
            unknown = set(values) - {f.name for f in dataclasses.fields(klass)}
            if unknown:
                raise ValueError(f"LFDMConfig.{name}: unknown keys {sorted(unknown)}")
            kwargs[name] = klass(**values)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"LFDMConfig: unknown keys {sorted(unknown)}")
        return cls(**kwargs, **data)


#: The released MUG model (config/mug128.yaml, demo/demo_mug.py).
PUBLISHED_MUG = LFDMConfig()
#: MHAD and NATOPS: the same but for the region predictor's padding (their yaml files' ``pad: 0``).
PUBLISHED_MHAD = LFDMConfig(lfae=LFAEConfig(region_pad=0))
PUBLISHED_NATOPS = PUBLISHED_MHAD

PUBLISHED: dict[str, LFDMConfig] = {"mug": PUBLISHED_MUG, "mhad": PUBLISHED_MHAD, "natops": PUBLISHED_NATOPS}

#: A few-thousand-parameter LFDM for tests: 32² frames, 8² flow maps, 4 frames, 2 steps.
TINY = LFDMConfig(
    lfae=LFAEConfig(
        num_regions=2, region_block_expansion=4, region_max_features=16, region_num_blocks=2,
        bg_block_expansion=4, bg_max_features=16, bg_num_blocks=2,
        gen_block_expansion=4, gen_max_features=16, gen_num_down_blocks=2, gen_num_bottleneck_blocks=1,
        flow_block_expansion=4, flow_max_features=16, flow_num_blocks=2,
    ),
    unet=UNetConfig(dim=8, dim_mults=(1, 2), feature_channels=16, text_dim=32, attn_heads=2, temporal_dim_head=8),
    image_size=32,
    num_frames=4,
    sampling_steps=2,
)
