"""CogVideoX-5B (THUDM) as two adapters: text-to-video (`cogvideox-t2v`) and image-to-video (`cogvideox-i2v`).

The HANDI paper runs CogVideoX-5B as a **text-to-video** baseline (`THUDM/CogVideoX-5b`,
`CogVideoXPipeline`): it is given the action text only, never the context frame, so its
clips cannot match the context's scene and are scored as such. The image-to-video
variant (`THUDM/CogVideoX-5b-I2V`, `CogVideoXImageToVideoPipeline`) is an extra of this
suite, not a number the paper reports.

Native settings (both checkpoints), from the model cards' table (huggingface.co/THUDM/
CogVideoX-5b and -5b-I2V: "Video Resolution 720 * 480, no support for other
resolutions", "Video Length 6 seconds", "Frame Rate 8 frames / second", "Prompt Length
Limit 226 tokens", "Inference Speed (Step = 50)") and the pipelines' defaults in diffusers
0.42.1 (``num_frames=49``, ``num_inference_steps=50``, ``guidance_scale=6``,
``max_sequence_length=226``, ``use_dynamic_cfg=False``): 480×720 (H×W), 49 = 6 s × 8 fps
+ 1 frames, 50 steps, guidance 6. By default the pipeline runs with the checkpoint's own
scheduler and no dynamic CFG, as the pipelines' defaults and the cards' diffusers
quick-start; CogVideo's reference script (``inference/cli_demo.py``) swaps in
``CogVideoXDPMScheduler`` (trailing timesteps) with ``use_dynamic_cfg=True`` ("for DDIM
scheduler, it should be False"), which ``scheduler=dpm, dynamic_cfg=true`` reproduces.

Frame counts are 4·n + 1: the causal 3D VAE keeps the first frame and compresses every
following 4 into one latent frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from adapters.diffusers_video.base import DiffusersVideoAdapter, InputFit
from adapters.fitting import Fitting
from hcvg.adapter import Capabilities, GenerationRequest, NativeSettings
from hcvg.options import OptionError

if TYPE_CHECKING:
    import PIL.Image

Scheduler = Literal["folder", "dpm", "ddim"]
SCHEDULERS: tuple[str, ...] = ("folder", "dpm", "ddim")

#: The model cards' native settings (see the module docstring).
COGVIDEOX_5B_NATIVE = NativeSettings(size=(480, 720), frames=49, fps=8.0, steps=50, guidance=6.0)


class CogVideoXAdapter(DiffusersVideoAdapter):
    """What the two CogVideoX pipelines share: options, the prompt limit, the scheduler.

    Options (`DiffusersVideoAdapter`'s but ``fps``, which CogVideoX does not take, and):
    ``dynamic_cfg`` (the pipeline's ``use_dynamic_cfg``: guidance rises over the steps;
    default off, as the model cards), ``scheduler`` (``folder``: the checkpoint's own, as the cards; ``dpm``:
    ``CogVideoXDPMScheduler`` with trailing timesteps, as CogVideo's ``cli_demo.py``;
    ``ddim``: ``CogVideoXDDIMScheduler``), ``max_sequence_length`` (T5 tokens the prompt
    is padded or cut to; must equal the transformer's ``max_text_seq_length``, 226 for
    the 5B checkpoints).
    """

    frames_rule: ClassVar[tuple[int, int] | None] = (4, 1)
    native: ClassVar[NativeSettings] = COGVIDEOX_5B_NATIVE

    def __init__(
        self,
        dynamic_cfg: bool = False,
        scheduler: Scheduler = "folder",
        max_sequence_length: int = 226,
        input_fit: InputFit = "resize",
        **options: Any,
    ):
        # Every other option is the base's (DiffusersVideoAdapter), typed by its signature.
        if "fps" in options:
            raise OptionError(f"adapter {self.name!r}: unknown option 'fps': CogVideoX takes no frame rate (its 8 fps is fixed by training)")
        super().__init__(input_fit=input_fit, **options)
        if scheduler not in SCHEDULERS:
            raise ValueError(f"{self.name}: scheduler must be one of {', '.join(SCHEDULERS)}; got {scheduler!r}")
        if self.text_only and input_fit != "resize":
            raise ValueError(f"{self.name}: input_fit fits the context frame, which a text-to-video model is not given; drop it")
        assert self.native.size is not None
        if any(side % 16 for side in self.native.size):
            raise ValueError(
                f"{self.name}: height and width must be multiples of 16 (the VAE's 8x times the transformer's 2x2 "
                f"patches); got {self.native.size[0]}x{self.native.size[1]}"
            )
        if max_sequence_length < 1:
            raise ValueError(f"{self.name}: max_sequence_length must be >= 1; got {max_sequence_length}")
        self.dynamic_cfg, self.scheduler, self.max_sequence_length = dynamic_cfg, scheduler, max_sequence_length

    def options(self) -> dict[str, Any]:
        return {
            **super().options(), "dynamic_cfg": self.dynamic_cfg, "scheduler": self.scheduler,
            "max_sequence_length": self.max_sequence_length,
        }

    def fitting(self) -> dict[str, Any]:
        # CogVideoX takes no fps: the native rate is what its frames mean, not an input.
        return {**super().fitting(), "fps": f"{self.native.fps:g} fps native (the pipeline takes no fps)"}

    def build_pipeline(self, folder: Path, dtype: Any) -> Any:
        pipe = super().build_pipeline(folder, dtype)
        config = pipe.transformer.config
        if self.max_sequence_length != config.max_text_seq_length:
            # The joint positional embedding has exactly max_text_seq_length text slots.
            raise ValueError(
                f"{self.name}: max_sequence_length={self.max_sequence_length}, but the transformer in {folder} takes "
                f"{config.max_text_seq_length} text tokens; pass max_sequence_length={config.max_text_seq_length}"
            )
        if self.scheduler != "folder":
            import diffusers

            if self.scheduler == "dpm":
                pipe.scheduler = diffusers.CogVideoXDPMScheduler.from_config(pipe.scheduler.config, timestep_spacing="trailing")
            else:
                pipe.scheduler = diffusers.CogVideoXDDIMScheduler.from_config(pipe.scheduler.config)
        return pipe

    def pipeline_kwargs(self, requests: list[GenerationRequest], images: list["PIL.Image.Image"] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            **self.native_call_kwargs(requests),
            "use_dynamic_cfg": self.dynamic_cfg,
            "max_sequence_length": self.max_sequence_length,
        }
        if images is not None:
            kwargs["image"] = images
        return kwargs

    # -- tests -------------------------------------------------------------------
    #: Latent (H, W) of the tiny transformer: 32×48 pixels, CogVideoX's 2:3 aspect.
    TINY_LATENT: ClassVar[tuple[int, int]] = (4, 6)

    @classmethod
    def tiny_pipeline(cls) -> Any:
        import diffusers
        import torch
        from transformers import T5Config, T5EncoderModel

        from adapters.diffusers_video.tiny_text import tiny_t5_tokenizer

        image_to_video = not cls.text_only
        torch.manual_seed(0)
        # Sizes as diffusers' own CogVideoX pipeline tests (tests/pipelines/cogvideo/):
        # RoPE needs attention_head_dim % 16 == 0; text_embed_dim is the T5's d_model.
        transformer = diffusers.CogVideoXTransformer3DModel(
            num_attention_heads=2, attention_head_dim=16, in_channels=8 if image_to_video else 4, out_channels=4,
            time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_height=cls.TINY_LATENT[0],
            sample_width=cls.TINY_LATENT[1], sample_frames=17, patch_size=2, temporal_compression_ratio=4,
            max_text_seq_length=16, use_rotary_positional_embeddings=True,
            # As the 5B-I2V checkpoint: RoPE plus a learned positional embedding.
            use_learned_positional_embeddings=image_to_video,
        )
        torch.manual_seed(0)
        vae = diffusers.AutoencoderKLCogVideoX(
            in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
            up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
            layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
        )
        torch.manual_seed(0)
        tokenizer = tiny_t5_tokenizer()
        text_encoder = T5EncoderModel(
            T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4, relative_attention_num_buckets=8)
        )
        pipeline_class = getattr(diffusers, cls.pipeline_class)
        return pipeline_class(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=diffusers.CogVideoXDDIMScheduler(),
        )

    @classmethod
    def tiny_options(cls) -> dict[str, Any]:
        # 17 = 4·4 + 1 frames; the VAE downsamples 8× in space.
        height, width = (8 * side for side in cls.TINY_LATENT)
        return {**super().tiny_options(), "height": height, "width": width, "frames": 17, "max_sequence_length": 16}


class CogVideoXTextToVideoAdapter(CogVideoXAdapter):
    """CogVideoX-5B text-to-video: the paper's CogVideoX baseline.

    It reads the action text (the split's expanded prompt when there is one) and never
    the context frame (`describe()` says so); its 49 native frames are all generated,
    none is the context, and 15 are picked evenly. With no context to line up with, the
    480×720 frames are center-cropped to the request's square, as the benchmark's clip
    sampling crops the ground truth; ``input_fit``, which fits a context, is refused.
    """

    name: ClassVar[str] = "cogvideox-t2v"
    pipeline_class: ClassVar[str] = "CogVideoXPipeline"
    asset: ClassVar[str | None] = "cogvideox-5b"
    text_only: ClassVar[bool] = True
    returns_context: ClassVar[bool] = False
    # Declared on the class too: `hcvg adapters list` reads it without building one.
    capabilities: ClassVar[Capabilities] = Capabilities(needs_image=False, max_batch_size=1)

    def options(self) -> dict[str, Any]:
        options = super().options()
        del options["input_fit"]  # nothing is fitted in; the output side is `output_fitting`
        return options

    def output_fitting(self) -> Fitting:
        return Fitting(spatial="center-crop", temporal=self.temporal, drop_context=False)  # type: ignore[arg-type]


class CogVideoXImageToVideoAdapter(CogVideoXAdapter):
    """CogVideoX-5B image-to-video (an extra: the paper runs CogVideoX as text-to-video).

    The context is fitted to 480×720 and encoded as the first latent frame, so the
    pipeline's frame 0 is the context frame, which is dropped. The checkpoint's learned
    positional embedding exists for 480×720 and 49 frames only: diffusers refuses
    another size, and at another frame count it silently falls back to sin-cos
    embeddings, so this adapter refuses both (`build_pipeline`).
    """

    name: ClassVar[str] = "cogvideox-i2v"
    pipeline_class: ClassVar[str] = "CogVideoXImageToVideoPipeline"
    asset: ClassVar[str | None] = "cogvideox-5b-i2v"

    def build_pipeline(self, folder: Path, dtype: Any) -> Any:
        pipe = super().build_pipeline(folder, dtype)
        config = pipe.transformer.config
        if config.use_learned_positional_embeddings:
            scale = pipe.vae_scale_factor_spatial
            trained = ((config.sample_height * scale, config.sample_width * scale), config.sample_frames)
            if (self.native.size, self.native.frames) != trained:
                (height, width), frames = trained
                raise ValueError(
                    f"{self.name}: the transformer in {folder} has a learned positional embedding for {height}x{width} "
                    f"(HxW) and {frames} frames only; got {self.native.size[0]}x{self.native.size[1]} and "  # type: ignore[index]
                    f"{self.native.frames} frames. Pass height={height}, width={width}, frames={frames}"
                )
        return pipe
