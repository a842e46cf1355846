"""`diffusers-i2v`: any diffusers image-to-video pipeline, by preset or by model folder.

A preset (`I2VPreset`, one entry of `PRESETS`) is data: the pipeline class, the asset
holding the official weights, the model card's native settings, and how a request
becomes that pipeline's keyword arguments (whether it takes a prompt, the name of its
frame-rate and guidance arguments, the model card's fixed conditioning values). The
adapter is one class, `DiffusersI2VAdapter`, which reads a preset:

    diffusers-i2v:preset=svd-xt
    diffusers-i2v:preset=wan2.1-i2v-480p,model=/data/Wan2.1-I2V-14B-480P-Diffusers

With ``model=`` and no preset it runs whatever image-to-video pipeline the folder's
``model_index.json`` names (or ``pipeline=ClassName``), called with the generic
arguments its ``__call__`` takes (``prompt`` if it has one, ``image``, ``height``,
``width``, ``num_frames``, ``num_inference_steps``, ``guidance_scale``); the native
settings are the options, else the defaults of that ``__call__``.

Torch and diffusers are imported inside methods (`hcvg adapters list` imports this
module without them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Literal

from adapters.diffusers_video.base import DiffusersVideoAdapter, InputFit, resolve_pipeline_folder, tiny_pipeline_folder
from hcvg.adapter import GenerationRequest, NativeSettings

if TYPE_CHECKING:
    import PIL.Image


@dataclass(frozen=True)
class I2VPreset:
    """One image-to-video checkpoint: its pipeline, weights, native settings and call mapping.

    Attributes:
        name: The preset's name (``preset=`` option), kebab-case.
        pipeline_class: The diffusers pipeline class, by name.
        asset: The asset holding the official weights (`adapters.diffusers_video.checkpoints`).
        native: The model card's size (H, W), frames (the context frame included),
            fps, steps and guidance.
        frames_rule: (k, r): the frame counts the VAE accepts are k·n + r (None: any).
        takes_prompt: The pipeline is text-conditioned (``prompt=`` is passed).
        takes_negative_prompt: ``negative_prompt=`` is passed (the ``negative_prompt``
            option; "" by default).
        fps_argument: The ``__call__`` argument the native fps goes to (``fps``,
            ``frame_rate``, ``target_fps``), or None if the model takes no fps.
        guidance_argument: The ``__call__`` argument the guidance option goes to.
        fixed: Further arguments, at the model card's values (conditioning constants,
            decode chunk size).
        batched: The pipeline takes a list of images (False: one request per call).
        global_noise: The pipeline also draws noise from torch's global RNG, not only
            from ``generator=`` (I2VGen-XL samples the context's VAE latent so): each
            call runs under ``torch.manual_seed(request seed)`` in a forked RNG state,
            one request per call, so clips stay deterministic and batch-independent.
        float32_components: Components loaded in float32 whatever the ``dtype``
            option (the model card keeps them so).
        source: Where the numbers come from.
    """

    name: str
    pipeline_class: str
    asset: str | None
    native: NativeSettings
    frames_rule: tuple[int, int] | None = None
    takes_prompt: bool = True
    takes_negative_prompt: bool = True
    fps_argument: str | None = None
    guidance_argument: str = "guidance_scale"
    fixed: dict[str, Any] = field(default_factory=dict)
    batched: bool = True
    global_noise: bool = False
    float32_components: tuple[str, ...] = ()
    source: str = ""

    def describe(self) -> dict[str, Any]:
        """The preset as plain data (for the run config)."""
        described = dataclasses.asdict(self)
        described["native"] = dataclasses.asdict(self.native)
        return described


_SVD_SOURCE = (
    "StableVideoDiffusionPipeline.__call__ defaults (576x1024, 25 steps, min/max guidance 1.0/3.0, fps 7, motion_bucket_id 127, "
    "noise_aug_strength 0.02) and its docstring example (decode_chunk_size=8, 25 frames for -xt); the "
    "stable-video-diffusion-img2vid model card: 14 frames, run at 16 here so that 15 remain after the context frame"
)

#: The presets, by name: the one list of the checkpoints `diffusers-i2v` knows.
PRESETS: dict[str, I2VPreset] = {
    preset.name: preset
    for preset in (
        I2VPreset(
            name="svd", pipeline_class="StableVideoDiffusionPipeline", asset="svd",
            # NOTE: the card's 14 frames leave 13 after the context frame, short of the benchmark's 15,
            # and no fitting invents frames. SVD takes its frame count as the latent length only (no
            # frame-count conditioning; its temporal layers take any length), so it runs at 16, the fewest that fill L = 15.
            native=NativeSettings(size=(576, 1024), frames=16, fps=7, steps=25, guidance=3.0),
            takes_prompt=False, takes_negative_prompt=False, fps_argument="fps", guidance_argument="max_guidance_scale",
            # SVD guides each frame with a scale rising linearly from min to max over the clip.
            fixed={"min_guidance_scale": 1.0, "motion_bucket_id": 127, "noise_aug_strength": 0.02, "decode_chunk_size": 8},
            source=_SVD_SOURCE,
        ),
        I2VPreset(
            name="svd-xt", pipeline_class="StableVideoDiffusionPipeline", asset="svd-xt",
            native=NativeSettings(size=(576, 1024), frames=25, fps=7, steps=25, guidance=3.0),
            takes_prompt=False, takes_negative_prompt=False, fps_argument="fps", guidance_argument="max_guidance_scale",
            fixed={"min_guidance_scale": 1.0, "motion_bucket_id": 127, "noise_aug_strength": 0.02, "decode_chunk_size": 8},
            source=_SVD_SOURCE.split("; the stable-video")[0] + "; 25 frames: the stable-video-diffusion-img2vid-xt model card",
        ),
        I2VPreset(
            name="i2vgen-xl", pipeline_class="I2VGenXLPipeline", asset="i2vgen-xl",
            native=NativeSettings(size=(704, 1280), frames=16, fps=16, steps=50, guidance=9.0),
            fps_argument="target_fps", fixed={"decode_chunk_size": 1}, batched=False, global_noise=True,
            source="I2VGenXLPipeline.__call__ defaults (704x1280, 16 frames, target_fps 16, decode_chunk_size 1) and its docstring "
            "example (50 steps, guidance 9.0); a deprecated pipeline in diffusers 0.42 (diffusers.pipelines.deprecated)",
        ),
        I2VPreset(
            name="ltx-video", pipeline_class="LTXImageToVideoPipeline", asset="ltx-video",
            native=NativeSettings(size=(480, 704), frames=161, fps=25, steps=50, guidance=3.0), frames_rule=(8, 1),
            fps_argument="frame_rate",
            source="LTXImageToVideoPipeline docstring example (480x704, 161 frames, 50 steps) and __call__ defaults "
            "(frame_rate 25, guidance 3.0); frames 8n+1: the LTX-Video VAE compresses time by 8",
        ),
        I2VPreset(
            name="wan2.1-i2v-480p", pipeline_class="WanImageToVideoPipeline", asset="wan2.1-i2v-480p",
            native=NativeSettings(size=(480, 832), frames=81, fps=16, steps=50, guidance=5.0), frames_rule=(4, 1),
            batched=False,  # its check_inputs takes one PIL image (or a tensor), never a list
            float32_components=("vae", "image_encoder"),  # as the pipeline's docstring example loads them
            source="WanImageToVideoPipeline docstring example (480*832 area, 81 frames, guidance 5.0, saved at 16 fps) and "
            "__call__ default (50 steps); frames 4n+1: the Wan VAE compresses time by 4; fps is not a model input; one image per call",
        ),
        I2VPreset(
            name="hunyuanvideo-i2v", pipeline_class="HunyuanVideoImageToVideoPipeline", asset="hunyuanvideo-i2v",
            native=NativeSettings(size=(720, 1280), frames=129, fps=15, steps=50, guidance=6.0), frames_rule=(4, 1),
            # The negative prompt is read only under true CFG (true_cfg_scale > 1), which this checkpoint does not use.
            takes_negative_prompt=False, batched=False,
            source="HunyuanVideoImageToVideoPipeline __call__ defaults (720x1280, 129 frames, 50 steps) and its docstring example "
            "for hunyuanvideo-community/HunyuanVideo-I2V (guidance_scale 6.0, embedded guidance; saved at 15 fps, not a model "
            "input); frames 4n+1: the VAE compresses time by 4; one image per call",
        ),
    )
}

#: The name `generic_preset` gives the preset it builds for a pipeline without one.
GENERIC = "generic"
#: The `__call__` arguments the generic mapping fills, when the pipeline has them.
_GENERIC_ARGUMENTS = ("prompt", "negative_prompt", "image", "height", "width", "num_frames", "num_inference_steps", "guidance_scale")
#: Pipelines whose ``image`` is one image, not a list: one request per call.
_ONE_IMAGE_PIPELINES = ("HunyuanVideoImageToVideoPipeline", "WanImageToVideoPipeline")
#: Pipelines drawing noise outside ``generator=`` (see `I2VPreset.global_noise`).
_GLOBAL_NOISE_PIPELINES = ("I2VGenXLPipeline",)
#: Native frames the tiny test pipelines make: >= 16 (the context frame is dropped, 15 kept) and k·n + 1 where a VAE asks.
_TINY_FRAMES = {None: 16, (8, 1): 17, (4, 1): 17}


class DiffusersI2VAdapter(DiffusersVideoAdapter):
    """Any diffusers image-to-video pipeline: preset= svd | svd-xt | i2vgen-xl | ltx-video | wan2.1-i2v-480p | hunyuanvideo-i2v, or model=.

    (`hcvg adapters list` shows that first line; a test keeps it naming every preset.)

    Options: ``preset`` (one of `PRESETS`), ``pipeline`` (a diffusers pipeline class
    name, without a preset: default, the folder's ``model_index.json``),
    ``decode_chunk_size`` (frames the VAE decodes at once, where the pipeline takes
    one; default: the preset's), and every `DiffusersVideoAdapter` option.
    """

    name: ClassVar[str] = "diffusers-i2v"

    def __init__(
        self,
        preset: str | None = None,
        pipeline: str | None = None,
        model: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        fps: float | None = None,
        negative_prompt: str = "",
        decode_chunk_size: int | None = None,
        input_fit: InputFit = "resize",
        temporal: Literal["even", "first", "last"] = "even",
        batch_size: int = 1,
        device: str = "auto",
        dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto",
        offload: Literal["none", "model", "sequential"] = "none",
        vae_slicing: bool = False,
        vae_tiling: bool = False,
        attention: str = "default",
        compile: bool = False,
        variant: str | None = None,
    ):
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"{self.name}: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
            if pipeline is not None:
                raise ValueError(f"{self.name}: preset={preset!r} fixes the pipeline class ({PRESETS[preset].pipeline_class}); drop pipeline=")
            self.preset = PRESETS[preset]
        elif model is not None:
            self.preset = generic_preset(pipeline or pipeline_class_of(model, self.name))
        else:
            raise ValueError(f"{self.name}: pass preset= (one of {', '.join(PRESETS)}) or model=<pipeline folder or hub id>")
        if not self.preset.batched and batch_size != 1:
            why = "it draws noise from the global RNG" if self.preset.global_noise else "it takes one image"
            raise ValueError(f"{self.name}: {self.preset.pipeline_class} runs one request per call ({why}); batch_size must be 1, got {batch_size}")
        # An option the pipeline would not receive is refused, never dropped.
        takes = call_parameters(self.preset.pipeline_class)
        if decode_chunk_size is not None and "decode_chunk_size" not in takes:
            raise ValueError(f"{self.name}: {self.preset.pipeline_class} takes no decode_chunk_size; drop the option")
        if fps is not None and self.preset.fps_argument is None:
            raise ValueError(f"{self.name}: {self.preset.name} passes no frame rate to {self.preset.pipeline_class}; drop fps=")
        if negative_prompt and not self.preset.takes_negative_prompt:
            raise ValueError(f"{self.name}: {self.preset.name} passes no negative prompt to {self.preset.pipeline_class}; drop negative_prompt=")
        if guidance is not None and self.preset.guidance_argument not in takes:
            raise ValueError(f"{self.name}: {self.preset.pipeline_class} takes no {self.preset.guidance_argument}; drop guidance=")
        # The base reads these from the instance: the preset stands in for a family's class attributes.
        self.pipeline_class, self.asset, self.frames_rule = self.preset.pipeline_class, self.preset.asset, self.preset.frames_rule
        self.native = self.preset.native
        if self.native.size is None and not (height and width):
            raise ValueError(f"{self.name}: {self.preset.pipeline_class} declares no default height/width; pass height= and width=")
        if self.native.frames is None and not frames:
            raise ValueError(f"{self.name}: {self.preset.pipeline_class} declares no default num_frames; pass frames=")
        super().__init__(
            model=model, steps=steps, guidance=guidance, height=height, width=width, frames=frames, fps=fps,
            negative_prompt=negative_prompt, input_fit=input_fit, temporal=temporal, batch_size=batch_size, device=device, dtype=dtype,
            offload=offload, vae_slicing=vae_slicing, vae_tiling=vae_tiling, attention=attention, compile=compile, variant=variant,
        )
        self.decode_chunk_size = decode_chunk_size

    # -- declarations ------------------------------------------------------------
    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        # The default options name no preset, so no asset; each preset's asset is in PRESETS.
        return ()

    def options(self) -> dict[str, Any]:
        return {
            **super().options(), "preset": self.preset.describe(), "decode_chunk_size": self.decode_chunk_size,
            "compat": [(fix.__doc__ or fix.__name__).splitlines()[0] for fix in COMPAT_FIXES.get(self.pipeline_class, ())],
        }

    def fitting(self) -> dict[str, Any]:
        fitted = super().fitting()
        if self.pipeline_class in RETURNS_CONTEXT and self.pipe is None:
            fitted["drop_context"] = f"{self.returns_context} until load() reads the checkpoint's transformer config"
        fps = self.native.fps
        if self.preset.fps_argument is not None:
            passed = f"{fps} fps is passed as {self.preset.fps_argument}="
        elif self.preset.name == GENERIC:
            passed = "no fps is passed (the pipeline's own default, if it takes one)"
        else:
            passed = "the model takes no fps" + (f" (its clips play at {fps} fps)" if fps is not None else "")
        return {**fitted, "fps": passed, "call": self.call_mapping()}

    def call_mapping(self) -> dict[str, str]:
        """What each pipeline argument is given (for the run config)."""
        mapping = {"image": "the context, fitted to the native size", "height": "native", "width": "native", "num_frames": "native"}
        if self.preset.takes_prompt:
            mapping["prompt"] = "the expanded prompt, else the action text"
        if self.preset.takes_negative_prompt:
            mapping["negative_prompt"] = "the negative_prompt option"
        mapping["num_inference_steps"] = "steps"
        if self.native.guidance is not None:
            mapping[self.preset.guidance_argument] = "guidance"
        if self.preset.fps_argument is not None:
            mapping[self.preset.fps_argument] = "fps"
        for key, value in self.fixed_arguments().items():
            mapping[key] = f"{value!r} (fixed)"
        return mapping

    def fixed_arguments(self) -> dict[str, Any]:
        """The preset's fixed arguments, with the decode_chunk_size option applied."""
        fixed = dict(self.preset.fixed)
        if self.decode_chunk_size is not None:
            fixed["decode_chunk_size"] = self.decode_chunk_size
        return fixed

    # -- lifecycle ---------------------------------------------------------------
    def build_pipeline(self, folder: Any, dtype: Any) -> Any:
        import torch

        if self.preset.float32_components and dtype != torch.float32:
            # diffusers' from_pretrained takes a dtype per component, "default" for the rest.
            dtype = {"default": dtype, **{name: torch.float32 for name in self.preset.float32_components}}
        pipe = super().build_pipeline(folder, dtype)
        for fix in COMPAT_FIXES.get(self.pipeline_class, ()):
            fix(pipe)
        if self.pipeline_class in RETURNS_CONTEXT:
            self.returns_context = RETURNS_CONTEXT[self.pipeline_class](pipe)
        return pipe

    # -- generation --------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[Any]:
        if not self.preset.global_noise:
            return super().generate(requests)
        if len(requests) != 1:
            raise ValueError(f"{self.name}: {self.preset.pipeline_class} draws global noise, so it runs one request per call; got {len(requests)}")
        with seeded_global_rng(requests[0].seed):
            return super().generate(requests)

    def pipeline_kwargs(self, requests: list[GenerationRequest], images: list["PIL.Image.Image"] | None) -> dict[str, Any]:
        assert images is not None and self.native.size is not None and self.native.frames is not None
        if not self.preset.batched and len(requests) != 1:
            raise ValueError(f"{self.name}: {self.preset.pipeline_class} runs one request per call; got a batch of {len(requests)}")

        def batch(values: list[Any]) -> Any:
            return values if self.preset.batched else values[0]

        height, width = self.native.size
        kwargs: dict[str, Any] = {"image": batch(images), "height": height, "width": width, "num_frames": self.native.frames}
        if self.preset.takes_prompt:
            kwargs["prompt"] = batch(self.prompts(requests))
        if self.preset.takes_negative_prompt:
            kwargs["negative_prompt"] = batch([self.negative_prompt] * len(requests))
        if self.native.steps is not None:
            kwargs["num_inference_steps"] = self.native.steps
        if self.native.guidance is not None:
            kwargs[self.preset.guidance_argument] = self.native.guidance
        if self.preset.fps_argument is not None and self.native.fps is not None:
            # Pipelines type their frame rate as int (SVD subtracts 1 from it, as it was trained on fps - 1).
            kwargs[self.preset.fps_argument] = int(self.native.fps) if float(self.native.fps).is_integer() else self.native.fps
        return {**kwargs, **self.fixed_arguments()}

    # -- tests -------------------------------------------------------------------
    @classmethod
    def tiny_options(cls, preset: str = "svd") -> dict[str, Any]:
        rule = PRESETS[preset].frames_rule
        return {"preset": preset, "steps": 2, "device": "cpu", "height": 32, "width": 32, "frames": _TINY_FRAMES[rule]}

    @classmethod
    def for_tests(cls, preset: str = "svd") -> "DiffusersI2VAdapter":
        """The preset's pipeline class with tiny random components (saved once, loaded with ``from_pretrained``)."""
        import hashlib

        from adapters.diffusers_video import tiny_i2v

        pipeline_class = PRESETS[preset].pipeline_class
        # The builders' source names the folder, so a changed tiny config is never served from an old copy.
        digest = hashlib.sha256(inspect.getsource(tiny_i2v).encode()).hexdigest()[:10]
        folder = tiny_pipeline_folder(f"{cls.__name__}-{pipeline_class}-{digest}", tiny_i2v.TINY_PIPELINES[pipeline_class])
        return cls(model=str(folder), **cls.tiny_options(preset))


# -- the generic mapping ------------------------------------------------------------
def pipeline_class_of(model: str, where: str) -> str:
    """The pipeline class a pipeline folder (or cached hub id) names in its ``model_index.json``.

    Raises:
        AssetNotFoundError: If the folder or hub id is not found locally.
        ValueError: If the folder has no ``model_index.json`` or it names no class.
    """
    folder = resolve_pipeline_folder(model, what=where)
    index = folder / "model_index.json"
    if not index.is_file():
        raise ValueError(f"{where}: {folder} has no model_index.json, so it is not a diffusers pipeline folder; pass pipeline=ClassName")
    name = json.loads(index.read_text()).get("_class_name")
    if not name:
        raise ValueError(f"{where}: {index} names no _class_name; pass pipeline=ClassName")
    return str(name)


def call_parameters(pipeline_class: str) -> dict[str, inspect.Parameter]:
    """The ``__call__`` parameters of a diffusers pipeline class, by name.

    Raises:
        ValueError: If diffusers has no pipeline of that name.
    """
    import diffusers

    cls = getattr(diffusers, pipeline_class, None)
    if cls is None or not callable(getattr(cls, "__call__", None)):
        raise ValueError(f"diffusers {diffusers.__version__} has no pipeline class {pipeline_class!r}; check the name (pipeline=)")
    return dict(inspect.signature(cls.__call__).parameters)


def generic_preset(pipeline_class: str) -> I2VPreset:
    """A preset for any image-to-video pipeline: generic arguments, native settings from its ``__call__`` defaults.

    Raises:
        ValueError: If the pipeline's ``__call__`` takes no ``image`` (not image-to-video).
    """
    parameters = call_parameters(pipeline_class)
    if "image" not in parameters:
        raise ValueError(f"{pipeline_class}.__call__ takes no image=, so it is not an image-to-video pipeline; use a text-to-video adapter")

    def default(name: str) -> Any:
        parameter = parameters.get(name)
        value = None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    height, width = default("height"), default("width")
    return I2VPreset(
        name=GENERIC, pipeline_class=pipeline_class, asset=None,
        native=NativeSettings(
            size=(height, width) if height and width else None, frames=default("num_frames"),
            steps=default("num_inference_steps"), guidance=default("guidance_scale") if "guidance_scale" in parameters else None,
        ),
        takes_prompt="prompt" in parameters, takes_negative_prompt="negative_prompt" in parameters,
        batched=pipeline_class not in _ONE_IMAGE_PIPELINES + _GLOBAL_NOISE_PIPELINES, global_noise=pipeline_class in _GLOBAL_NOISE_PIPELINES,
        source=f"{pipeline_class}.__call__ defaults, overridden by the options; arguments passed: "
        + ", ".join(name for name in _GENERIC_ARGUMENTS if name in parameters),
    )


# -- compatibility fixes ------------------------------------------------------------
@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Torch's global RNGs (CPU and CUDA) seeded with ``seed`` inside, restored after."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        yield


def alias_clip_text_model(pipe: Any) -> None:
    """text_encoder.text_model aliased to the encoder (transformers 5 flattened CLIPTextModel).

    I2VGenXLPipeline, deprecated and unmaintained since diffusers 0.33, applies the
    final layer norm after ``clip_skip`` (its default, 1, as the checkpoint was run)
    through ``text_encoder.text_model.final_layer_norm``; transformers 5's CLIPTextModel
    holds ``final_layer_norm`` itself. The alias keeps the published computation; it is
    set past ``nn.Module.__setattr__``, so it is no submodule (no cycle in ``modules()``,
    ``state_dict()`` or ``.to()``). tests/test_diffusers_i2v_adapter.py pins the breakage,
    so the fix goes when the pipeline no longer needs it.
    """
    encoder = pipe.text_encoder
    if encoder is not None and not hasattr(encoder, "text_model") and hasattr(encoder, "final_layer_norm"):
        object.__setattr__(encoder, "text_model", encoder)


def hunyuan_returns_context(pipe: Any) -> bool:
    """Whether a HunyuanVideo I2V checkpoint returns the context frame (read from its transformer config).

    ``token_replace`` checkpoints (HunyuanVideo-I2V) put the image latent in the first
    latent frame and decode it, so frame 0 is the context; ``latent_concat`` ones
    (HunyuanVideo-I2V-33ch) cut the first 4 decoded frames, so ``num_frames - 4`` frames
    come back, none of them the context.
    """
    return pipe.transformer.config.image_condition_type != "latent_concat"


#: Pipelines whose checkpoints differ in returning the context frame: read at load.
RETURNS_CONTEXT: dict[str, Any] = {"HunyuanVideoImageToVideoPipeline": hunyuan_returns_context}

#: Fixes applied after loading, per pipeline class: each keeps a pipeline's own computation running.
COMPAT_FIXES: dict[str, tuple[Any, ...]] = {"I2VGenXLPipeline": (alias_clip_text_model,)}
