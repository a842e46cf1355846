"""`DiffusersVideoAdapter`: what every diffusers video adapter shares.

A family (PIA, CogVideoX, the image-to-video presets) subclasses it and says three
things: which pipeline class it drives (`pipeline_class`), where its weights are by
default (`asset`), and how a batch of requests becomes that pipeline's keyword
arguments (`pipeline_kwargs`). The base does the rest, the same way for all:

- **Weights**: ``model=`` a local pipeline folder or a hub id; by default the family's
  asset (its env var, the asset cache, the hub cache). Nothing is downloaded: a hub id
  is read from the local hub cache only, and a missing one is one error naming the id,
  the cache looked in and the command that fetches it.
- **Memory options** a user expects: ``dtype``, ``offload`` (model / sequential CPU
  offload), ``vae_slicing``, ``vae_tiling``, ``attention`` (a diffusers attention
  backend: ``flash``, ``_native_cudnn``, ``sage``...), ``compile`` (``torch.compile``
  the denoiser; its first call pays the compile time).
- **Fitting**: the 256² context is fitted to the model's native size under
  ``input_fit`` (``resize``: stretch; ``pad``: letterbox; ``center-crop``: cover and
  crop), and the native video is fitted back with the inverse spatial policy, so the
  returned clip shows the same scene region as the context; the native frames are
  resampled to L in time (the context frame, which image-to-video pipelines return
  first, is dropped). All of it is recorded by `describe()`.
- **Seeds**: one generator per request (`adapters.fitting.generators_for`), so a
  batch gives the same clips as single calls.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

import cv2
import numpy as np

from adapters.fitting import Fitting, TorchSettings, fit_native_videos, generators_for, release_device_memory
from hcvg.adapter import Adapter, Capabilities, GenerationRequest, NativeSettings
from hcvg.assets import AssetNotFoundError, resolve_asset

if TYPE_CHECKING:
    import PIL.Image

InputFit = Literal["resize", "pad", "center-crop"]
INPUT_FITS: tuple[str, ...] = ("resize", "pad", "center-crop")
#: The output policy that undoes each input policy (see `fit_context`).
INVERSE_SPATIAL: dict[str, str] = {"resize": "resize", "pad": "center-crop", "center-crop": "pad"}


class DiffusersVideoAdapter(Adapter):
    """A diffusers video pipeline, fitted to the benchmark (subclasses name the pipeline).

    Options (every family): ``model`` (a local pipeline folder or a hub id in the local
    hub cache; default: the family's asset), ``steps``, ``guidance``, ``height`` /
    ``width`` / ``frames`` / ``fps`` (native settings; default: the model card's),
    ``negative_prompt``, ``input_fit`` (resize | pad | center-crop), ``temporal`` (even
    | first | last: how the native frames become L), ``batch_size``, ``device``,
    ``dtype``, ``offload`` (none | model | sequential), ``vae_slicing``,
    ``vae_tiling``, ``attention`` (default, or a diffusers attention backend name),
    ``compile``, ``variant`` (e.g. fp16 weight files).
    """

    #: The diffusers pipeline class, by its name in ``diffusers`` (e.g. "CogVideoXPipeline").
    pipeline_class: ClassVar[str] = ""
    #: The asset holding the default weights (None: ``model=`` is required).
    asset: ClassVar[str | None] = None
    #: True for text-to-video models: the context frame is not given (nor read).
    text_only: ClassVar[bool] = False
    #: The pipeline returns the context frame as its frame 0 (most image-to-video ones do).
    returns_context: ClassVar[bool] = True
    #: Frame counts the model accepts, as a check on ``frames`` (None: any).
    frames_rule: ClassVar[tuple[int, int] | None] = None  # (k, r): frames % k == r
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=1)
    native: ClassVar[NativeSettings] = NativeSettings()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The class-level declaration (what `hcvg adapters list` reads, nothing built)
        # follows `text_only`, as each instance's does.
        super().__init_subclass__(**kwargs)
        if cls.capabilities.needs_image == cls.text_only:
            cls.capabilities = dataclasses.replace(cls.capabilities, needs_image=not cls.text_only)

    def __init__(
        self,
        model: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        fps: float | None = None,
        negative_prompt: str = "",
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
        # The class's settings, or those a subclass set on the instance before calling this (a preset).
        base = self.native
        if input_fit not in INPUT_FITS:
            raise ValueError(f"{self.name}: input_fit must be one of {', '.join(INPUT_FITS)}; got {input_fit!r}")
        if batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be >= 1; got {batch_size}")
        size = (height or base.size[0], width or base.size[1]) if base.size else None
        if size is None and (height or width):
            raise ValueError(f"{self.name}: declares no native size, so height/width cannot be set")
        frames = frames or base.frames
        if frames is not None and self.frames_rule is not None and frames % self.frames_rule[0] != self.frames_rule[1]:
            k, r = self.frames_rule
            raise ValueError(f"{self.name}: frames must be {k}·n + {r} for this model (its VAE compresses time by {k}); got {frames}")
        self.native = dataclasses.replace(
            base, size=size, frames=frames, fps=fps if fps is not None else base.fps,
            steps=steps or base.steps, guidance=guidance if guidance is not None else base.guidance,
        )
        self.model = model
        self.negative_prompt = negative_prompt
        self.input_fit, self.temporal = input_fit, temporal
        self.torch = TorchSettings(device=device, dtype=dtype, offload=offload)
        self.vae_slicing, self.vae_tiling, self.attention, self.compile, self.variant = vae_slicing, vae_tiling, attention, compile, variant
        self.capabilities = dataclasses.replace(type(self).capabilities, needs_image=not self.text_only, max_batch_size=batch_size)
        self.pipe: Any = None

    # -- declarations ------------------------------------------------------------
    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        return (cls.asset,) if cls.asset else ()

    def options(self) -> dict[str, Any]:
        return {
            "model": self.model, "pipeline_class": f"diffusers.{self.pipeline_class}", "negative_prompt": self.negative_prompt,
            "input_fit": self.input_fit, "temporal": self.temporal, "torch": self.torch.describe(),
            "vae_slicing": self.vae_slicing, "vae_tiling": self.vae_tiling, "attention": self.attention,
            "compile": self.compile, "variant": self.variant,
        }

    def output_fitting(self) -> Fitting:
        """How the native video becomes the request's clip (the inverse of ``input_fit``)."""
        return Fitting(spatial=INVERSE_SPATIAL[self.input_fit], temporal=self.temporal, drop_context=self.returns_context)  # type: ignore[arg-type]

    def fitting(self) -> dict[str, Any]:
        return {
            **self.output_fitting().describe(),
            "context": "not given (text-to-video)" if self.text_only else f"fitted to the native size by {self.input_fit!r}",
            "fps": "the model's native fps is passed" if self.native.fps is not None else "the model takes no fps",
        }

    # -- weights -----------------------------------------------------------------
    def weights_dir(self) -> Path:
        """The pipeline folder to load: ``model=`` (folder or cached hub id), else the asset.

        Raises:
            AssetNotFoundError: Naming the id or asset, where it was looked for, and
                the command that fetches it.
        """
        if self.model is None:
            if self.asset is None:
                raise AssetNotFoundError(f"{self.name}: pass model=<hub id or pipeline folder>; this adapter has no default weights")
            return resolve_asset(self.asset)
        return resolve_pipeline_folder(self.model, what=self.name)

    # -- lifecycle ---------------------------------------------------------------
    def build_pipeline(self, folder: Path, dtype: Any) -> Any:
        """Load the pipeline from ``folder`` (families with extra components override)."""
        import diffusers

        cls = getattr(diffusers, self.pipeline_class)
        extra = {"variant": self.variant} if self.variant else {}
        return cls.from_pretrained(folder, dtype=dtype, **extra)

    def load(self) -> None:
        pipe = self.build_pipeline(self.weights_dir(), self.torch.resolve_dtype())
        pipe.set_progress_bar_config(disable=True)
        apply_memory_options(pipe, vae_slicing=self.vae_slicing, vae_tiling=self.vae_tiling, attention=self.attention, compile=self.compile, where=self.name)
        self.pipe = self.torch.place(pipe)

    def close(self) -> None:
        self.pipe = None
        release_device_memory()

    # -- generation --------------------------------------------------------------
    def pipeline_kwargs(self, requests: list[GenerationRequest], images: list["PIL.Image.Image"] | None) -> dict[str, Any]:
        """The pipeline's keyword arguments for a batch (prompts, image, size, frames, steps...).

        ``generator`` and ``output_type`` are added by the base; ``images`` are the
        contexts fitted to the native size (None for a text-to-video model).
        """
        raise NotImplementedError

    def native_call_kwargs(self, requests: list[GenerationRequest]) -> dict[str, Any]:
        """The arguments most video pipelines share: text, native size, frames, steps, guidance."""
        assert self.native.size is not None
        height, width = self.native.size
        return {
            "prompt": self.prompts(requests),
            "negative_prompt": [self.negative_prompt] * len(requests),
            "height": height,
            "width": width,
            "num_frames": self.native.frames,
            "num_inference_steps": self.native.steps,
            "guidance_scale": self.native.guidance,
        }

    def prompts(self, requests: list[GenerationRequest]) -> list[str]:
        """The text each request is generated from: the split's expanded prompt when it has one."""
        return [r.expanded_prompt or r.prompt for r in requests]

    def native_images(self, requests: list[GenerationRequest]) -> list["PIL.Image.Image"] | None:
        """Each request's context, fitted to the native size, as the PIL image pipelines take."""
        if self.text_only:
            return None
        import PIL.Image

        assert self.native.size is not None
        return [PIL.Image.fromarray(fit_context(r.context, self.native.size, self.input_fit)) for r in requests]

    def call_kwargs(self, requests: list[GenerationRequest]) -> dict[str, Any]:
        """Everything the pipeline is called with for ``requests`` (tests call the pipeline with it directly)."""
        return {**self.pipeline_kwargs(requests, self.native_images(requests)), "generator": generators_for(requests), "output_type": "pt"}

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        if self.pipe is None:
            raise RuntimeError(f"{self.name}: generate() before load() or after close()")
        frames = self.pipe(**self.call_kwargs(requests)).frames
        return [self.to_clip(video, request) for video, request in zip(frames, requests)]

    def to_clip(self, video: Any, request: GenerationRequest) -> np.ndarray:
        """One pipeline output (float ``[T, C, H, W]`` in [0, 1]) → the request's uint8 clip."""
        return fit_native_videos([video], [request], self.output_fitting(), layout="TCHW", value_range="0,1", adapter=self.name)[0]

    # -- tests -------------------------------------------------------------------
    @classmethod
    def tiny_pipeline(cls) -> Any:
        """The family's pipeline with tiny random components, built offline (for `for_tests`)."""
        raise NotImplementedError(f"{cls.__name__} builds no tiny pipeline")

    @classmethod
    def tiny_options(cls) -> dict[str, Any]:
        """Options that make `for_tests` cheap (small native size, few frames and steps)."""
        return {"steps": 2, "device": "cpu"}

    @classmethod
    def for_tests(cls) -> "DiffusersVideoAdapter":
        folder = tiny_pipeline_folder(cls.__name__, cls.tiny_pipeline)
        return cls(model=str(folder), **cls.tiny_options())


# -- weights ---------------------------------------------------------------------
def _looks_like_hub_id(model: str) -> bool:
    return model.count("/") == 1 and not model.startswith((".", "/", "~")) and not os.path.exists(model)


def resolve_pipeline_folder(model: str, what: str, option: str = "model") -> Path:
    """A local pipeline folder, or the local hub-cache snapshot of a hub id (never downloads).

    ``option`` is the adapter option the value came from, named in the messages (a
    family with a second folder, such as PIA's ``adapter``, passes its own).

    Raises:
        AssetNotFoundError: If the folder does not exist, or the id is not in the hub
            cache; the message names the id, the cache and how to fetch it.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if not _looks_like_hub_id(model):
        raise AssetNotFoundError(f"{what}: {option}={model!r} is neither an existing folder nor a hub id (owner/name)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache_dir = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    try:
        return Path(snapshot_download(model, local_files_only=True, cache_dir=cache_dir))
    except LocalEntryNotFoundError as err:
        from huggingface_hub.constants import HF_HUB_CACHE

        fetch = _fetch_command(model)
        raise AssetNotFoundError(
            f"{what}: the hub model {model!r} is not in the local hub cache ({cache_dir or HF_HUB_CACHE}); "
            f"nothing is downloaded at run time.\nTo get it:\n  - run `{fetch}` where the network allows\n"
            f"  - or pass {option}=/path/to/a/local/{'pipeline/' if option == 'model' else ''}folder"
        ) from err


def _fetch_command(repo: str) -> str:
    """``hcvg assets fetch NAME`` if an asset declares ``repo``, else the hub's own CLI."""
    from hcvg.assets import ASSETS

    for name in ASSETS.names():
        try:
            if ASSETS.get(name).hf_repo == repo:
                return f"hcvg assets fetch {name}"
        except Exception:  # a broken third-party asset entry point must not hide the advice
            continue
    return f"hf download {repo}"


# -- memory options ---------------------------------------------------------------
def denoiser_of(pipe: Any) -> Any:
    """The pipeline's noise predictor: its ``transformer`` or its ``unet``."""
    for attribute in ("transformer", "unet"):
        module = getattr(pipe, attribute, None)
        if module is not None:
            return module
    raise TypeError(f"{type(pipe).__name__} has neither a transformer nor a unet")


def apply_memory_options(pipe: Any, *, vae_slicing: bool, vae_tiling: bool, attention: str, compile: bool, where: str) -> None:
    """Switch on the options a user asked for; one they cannot have is an error, never skipped.

    Raises:
        ValueError: If the VAE cannot slice or tile, or the denoiser cannot take the
            attention backend.
    """
    vae = getattr(pipe, "vae", None)
    for wanted, method in ((vae_slicing, "enable_slicing"), (vae_tiling, "enable_tiling")):
        if not wanted:
            continue
        if vae is None or not hasattr(vae, method):
            raise ValueError(f"{where}: {type(vae).__name__ if vae is not None else 'the pipeline'} has no {method}(); drop the option")
        getattr(vae, method)()
    denoiser = denoiser_of(pipe)
    if attention != "default":
        if not hasattr(denoiser, "set_attention_backend"):
            raise ValueError(f"{where}: {type(denoiser).__name__} cannot switch attention backends; pass attention=default")
        from diffusers.models.attention_dispatch import _AttentionBackendRegistry

        # set_attention_backend also makes the backend the process-wide default, which
        # would reach every model loaded after this one: keep it to this denoiser.
        process_default = _AttentionBackendRegistry._active_backend
        try:
            denoiser.set_attention_backend(attention)
        except (ValueError, RuntimeError, ImportError) as err:
            raise ValueError(f"{where}: attention backend {attention!r}: {err}") from err
        finally:
            _AttentionBackendRegistry.set_active_backend(process_default)
        # Older processors call torch's SDPA themselves, and diffusers skips them quietly:
        # a backend that reached no attention layer would be a setting with no effect.
        reached = [p for p in denoiser.attn_processors.values() if getattr(p, "_attention_backend", None) is not None]
        if not reached:
            raise ValueError(
                f"{where}: {type(denoiser).__name__}'s attention processors do not go through diffusers' attention "
                f"dispatcher, so attention={attention!r} would change nothing; pass attention=default"
            )
    if compile:
        # Module.compile() compiles in place, so the pipeline keeps its component.
        denoiser.compile()


# -- fitting the context in ------------------------------------------------------
def fit_context(context: np.ndarray, size: tuple[int, int], policy: str) -> np.ndarray:
    """The context frame at the model's native (H, W).

    ``resize`` stretches it; ``pad`` letterboxes it (aspect kept, black bars), which the
    output's ``center-crop`` removes again; ``center-crop`` scales it to cover (H, W)
    and crops the middle, which the output's ``pad`` puts back in place.

    Args:
        context: uint8 ``[h, w, 3]``.
        size: Native (H, W).
        policy: One of `INPUT_FITS`.

    Returns:
        uint8 ``[H, W, 3]``.
    """
    height, width = size
    if context.shape[:2] == (height, width):
        return context
    if policy == "resize":
        interp = cv2.INTER_AREA if height <= context.shape[0] and width <= context.shape[1] else cv2.INTER_CUBIC
        return cv2.resize(context, (width, height), interpolation=interp)
    if policy == "pad":
        scale = min(height / context.shape[0], width / context.shape[1])
        inner = (round(context.shape[0] * scale), round(context.shape[1] * scale))
        out = np.zeros((height, width, 3), dtype=np.uint8)
        top, left = (height - inner[0]) // 2, (width - inner[1]) // 2
        out[top : top + inner[0], left : left + inner[1]] = fit_context(context, inner, "resize")
        return out
    if policy == "center-crop":
        scale = max(height / context.shape[0], width / context.shape[1])
        cover = (max(height, round(context.shape[0] * scale)), max(width, round(context.shape[1] * scale)))
        scaled = fit_context(context, cover, "resize")
        top, left = (cover[0] - height) // 2, (cover[1] - width) // 2
        return np.ascontiguousarray(scaled[top : top + height, left : left + width])
    raise ValueError(f"fit_context: policy must be one of {', '.join(INPUT_FITS)}; got {policy!r}")


# -- tiny pipelines for tests ----------------------------------------------------
def tiny_pipeline_folder(key: str, build: Callable[[], Any], marker: str = "model_index.json") -> Path:
    """A tiny pipeline saved once per machine and diffusers version, then reused.

    `for_tests` loads it with ``from_pretrained`` like real weights, so the tests run
    the adapter's real loading path. Built into a temp folder and renamed into place,
    so two test processes never see a half-written one.

    Args:
        key: The folder's name (the adapter class).
        build: Returns the pipeline to save (random weights, offline tokenizers), or
            any object with ``save_pretrained`` (a single model, such as a motion adapter).
        marker: The file ``save_pretrained`` writes that shows the folder is complete
            (``config.json`` for a single model).

    Returns:
        The folder (under ``$HCVG_TINY_PIPELINES`` or the system temp folder).
    """
    import diffusers
    import transformers

    root = Path(os.environ.get("HCVG_TINY_PIPELINES") or Path(tempfile.gettempdir()) / "hcvg-tiny-pipelines")
    folder = root / f"diffusers-{diffusers.__version__}-transformers-{transformers.__version__}" / key
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{key}.") as tmp:
        build().save_pretrained(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / marker).is_file():  # another process won the race: use its copy
                raise
        os.makedirs(tmp, exist_ok=True)  # TemporaryDirectory cleans up the (renamed) path
    return folder

