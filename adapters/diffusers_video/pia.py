"""PIA (Personalized Image Animator, Zhang et al. 2024) as the `pia` adapter.

PIA is an AnimateDiff-style motion module plus a *condition module* (a UNet ``conv_in``
taking 9 channels: the noisy latent, a per-frame affinity mask and the context's
latent) that is plugged into a Stable Diffusion 1.5 UNet. diffusers ships it as
`diffusers.PIAPipeline` (since 0.30 under ``diffusers.pipelines.deprecated.pia``, still
exported at the top level in 0.42.1) with the condition module as a `MotionAdapter`,
so loading takes two folders: the SD-1.5 base pipeline (``model=``, default the
``pia-base-sd15`` asset) and the motion adapter (``adapter=``, default the
``pia-condition-adapter`` asset, hub ``openmmlab/PIA-condition-adapter``, a single-model
repo with ``config.json``). The base is the one diffusers' PIA documentation pairs the
adapter with, ``SG161222/Realistic_Vision_V6.0_B1_noVAE`` (an SD-1.5 fine-tune, a full
pipeline repo with its own VAE); PIA's authors run it on SD 1.5 with Realistic Vision
V6.0 B1 weights too (open-mmlab/PIA ``example/config/lighthouse.yaml``).

Native settings, from PIA's repo (open-mmlab/PIA ``example/config/base.yaml``:
``sample_width/height: 512``, ``video_length: 16``, ``num_inference_steps: 25``,
``mask_sim_range: [0]``, a DDIM scheduler with linear betas 0.00085-0.012,
``steps_offset: 1``, ``clip_sample: false``) and its pipeline's defaults
(``guidance_scale=7.5``, ``strength=1``, as ``PIAPipeline.__call__`` in diffusers):
512², 16 frames, 25 steps, guidance 7.5, motion_scale 0 (small motion), strength 1.
PIA takes no fps (diffusers' docstring reads its 16 frames as 2 s at 8 fps).

PIA's frame 0 is the context frame: its affinity coefficient is 1 and its conditioning
latent is the context's, so the first frame reproduces the image; it is dropped and
the other 15 are the benchmark's 15.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from adapters.diffusers_video.base import DiffusersVideoAdapter, resolve_pipeline_folder, tiny_pipeline_folder
from hcvg.adapter import GenerationRequest, NativeSettings
from hcvg.assets import resolve_asset
from hcvg.options import OptionError

if TYPE_CHECKING:
    import PIL.Image

Scheduler = Literal["ddim", "euler", "folder"]
SCHEDULERS: tuple[str, ...] = ("ddim", "euler", "folder")
#: PIA's motion presets (``RANGE_list`` in the pipeline): 0-2 more motion, 3-5 loops, 6-8 style transfer.
MOTION_SCALES: range = range(9)
#: The condition module's ``conv_in`` input: 4 latent + 1 mask + 4 context-latent channels.
PIA_CONV_IN_CHANNELS = 9
#: PIA's DDIM settings (open-mmlab/PIA example/config/base.yaml, ``noise_scheduler_kwargs``).
PIA_DDIM = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear", "steps_offset": 1, "clip_sample": False}


class PIAAdapter(DiffusersVideoAdapter):
    """PIA on Stable Diffusion 1.5: the context frame animated by the action text.

    Options (`DiffusersVideoAdapter`'s but ``fps``, which PIA does not take, and):
    ``adapter`` (the motion adapter: a local folder or a hub id in the local hub cache;
    default the ``pia-condition-adapter`` asset), ``motion_scale`` (0-8, PIA's motion
    preset; default 0 as PIA's configs), ``strength`` (in (0, 1]: below 1 the
    generation starts from the noised context rather than pure noise; default 1),
    ``scheduler`` (``ddim``: PIA's own settings, the default; ``euler``:
    ``EulerDiscreteScheduler`` as diffusers' PIA example; ``folder``: the base's).
    """

    name: ClassVar[str] = "pia"
    pipeline_class: ClassVar[str] = "PIAPipeline"
    asset: ClassVar[str | None] = "pia-base-sd15"
    adapter_asset: ClassVar[str] = "pia-condition-adapter"
    returns_context: ClassVar[bool] = True
    native: ClassVar[NativeSettings] = NativeSettings(size=(512, 512), frames=16, fps=None, steps=25, guidance=7.5)

    def __init__(
        self,
        adapter: str | None = None,
        motion_scale: int = 0,
        strength: float = 1.0,
        scheduler: Scheduler = "ddim",
        **options: Any,
    ):
        # Every other option is the base's (DiffusersVideoAdapter), typed by its signature.
        if options.get("fps") is not None:
            raise OptionError(f"adapter {self.name!r}: unknown option 'fps': PIA takes no frame rate")
        super().__init__(**options)
        if motion_scale not in MOTION_SCALES:
            raise ValueError(f"{self.name}: motion_scale must be 0-8 (0-2 motion, 3-5 loop, 6-8 style transfer); got {motion_scale}")
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"{self.name}: strength must be in (0, 1]; got {strength}")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"{self.name}: scheduler must be one of {', '.join(SCHEDULERS)}; got {scheduler!r}")
        assert self.native.size is not None
        if any(side % 8 for side in self.native.size):
            raise ValueError(f"{self.name}: height and width must be multiples of 8 (the SD VAE's factor); got {self.native.size}")
        self.adapter = adapter
        self.motion_scale, self.strength, self.scheduler = motion_scale, strength, scheduler

    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        return (*super().required_assets(), cls.adapter_asset)

    def options(self) -> dict[str, Any]:
        return {
            **super().options(), "adapter": self.adapter, "motion_scale": self.motion_scale, "strength": self.strength,
            "scheduler": self.scheduler,
        }

    # -- weights -----------------------------------------------------------------
    def adapter_dir(self) -> Path:
        """The motion-adapter folder: ``adapter=`` (folder or cached hub id), else the asset.

        Raises:
            AssetNotFoundError: Naming the id or asset, where it was looked for, and
                the command that fetches it.
        """
        if self.adapter is None:
            return resolve_asset(self.adapter_asset)
        return resolve_pipeline_folder(self.adapter, what=f"{self.name} motion adapter", option="adapter")

    def build_pipeline(self, folder: Path, dtype: Any) -> Any:
        """The SD-1.5 base in ``folder`` with PIA's motion adapter put into its UNet."""
        import diffusers

        adapter_folder = self.adapter_dir()
        motion_adapter = diffusers.MotionAdapter.from_pretrained(adapter_folder, dtype=dtype)
        if motion_adapter.config.conv_in_channels != PIA_CONV_IN_CHANNELS:
            # An AnimateDiff motion adapter has no condition module: PIA would fail deep inside its UNet.
            raise ValueError(
                f"{self.name}: the motion adapter in {adapter_folder} has conv_in_channels="
                f"{motion_adapter.config.conv_in_channels}, not PIA's {PIA_CONV_IN_CHANNELS}: it is not a PIA "
                "condition adapter (pass adapter=openmmlab/PIA-condition-adapter or its folder)"
            )
        longest = motion_adapter.config.motion_max_seq_length
        if self.native.frames is not None and self.native.frames > longest:
            # The temporal attention's positional encoding has that many slots.
            raise ValueError(
                f"{self.name}: the motion adapter in {adapter_folder} takes at most {longest} frames; got frames={self.native.frames}"
            )
        extra = {"variant": self.variant} if self.variant else {}
        pipe = diffusers.PIAPipeline.from_pretrained(folder, motion_adapter=motion_adapter, dtype=dtype, **extra)
        if self.scheduler == "ddim":
            pipe.scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config, **PIA_DDIM)
        elif self.scheduler == "euler":
            pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
        return pipe

    # -- generation --------------------------------------------------------------
    def pipeline_kwargs(self, requests: list[GenerationRequest], images: list["PIL.Image.Image"] | None) -> dict[str, Any]:
        assert images is not None
        return {
            "image": images,
            **self.native_call_kwargs(requests),
            "strength": self.strength,
            "motion_scale": self.motion_scale,
        }

    # -- tests -------------------------------------------------------------------
    @classmethod
    def tiny_pipeline(cls) -> Any:
        """A tiny SD-1.5-shaped base pipeline (saved as ``StableDiffusionPipeline``, as real bases are)."""
        import diffusers
        import torch
        from transformers import CLIPTextConfig, CLIPTextModel

        from adapters.diffusers_video.tiny_text import clip_tokenizer

        # Sizes as diffusers' former PIA pipeline test (tests/pipelines/pia/test_pia.py).
        torch.manual_seed(0)
        unet = diffusers.UNet2DConditionModel(
            block_out_channels=(8, 8), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=8, norm_num_groups=2,
        )
        torch.manual_seed(0)
        # Three levels: 4x smaller latents (32x32 pixels -> 8x8), so the tiny test runs fast.
        vae = diffusers.AutoencoderKL(
            block_out_channels=(8, 8, 8), in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
            up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4, norm_num_groups=2,
        )
        tokenizer = clip_tokenizer()
        torch.manual_seed(0)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer), hidden_size=8, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                max_position_embeddings=tokenizer.model_max_length, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            )
        )
        # A scheduler unlike PIA's, so that scheduler="ddim" visibly replaces it.
        scheduler = diffusers.PNDMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1
        )
        return diffusers.StableDiffusionPipeline(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )

    @classmethod
    def tiny_motion_adapter(cls) -> Any:
        """A tiny PIA condition adapter matching `tiny_pipeline`'s UNet (random weights)."""
        import diffusers
        import torch

        torch.manual_seed(0)
        return diffusers.MotionAdapter(
            block_out_channels=(8, 8), motion_layers_per_block=1, motion_norm_num_groups=2, motion_num_attention_heads=4,
            conv_in_channels=PIA_CONV_IN_CHANNELS,
        )

    @classmethod
    def tiny_options(cls) -> dict[str, Any]:
        # 16 frames: the context frame is dropped, the other 15 are kept.
        return {**super().tiny_options(), "height": 32, "width": 32, "frames": 16}

    @classmethod
    def for_tests(cls) -> "PIAAdapter":
        base = tiny_pipeline_folder(cls.__name__, cls.tiny_pipeline)
        adapter = tiny_pipeline_folder(f"{cls.__name__}-motion-adapter", cls.tiny_motion_adapter, marker="config.json")
        return cls(model=str(base), adapter=str(adapter), **cls.tiny_options())
