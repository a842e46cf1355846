"""`dynamicrafter`: the native DynamiCrafter 256 port as a benchmark adapter.

Native → benchmark: the model generates 16 frames at 256x256 from the context frame
and the action text, at frame stride 3, with DDIM 50 steps, eta 1.0 and guidance 7.5
(the authors' ``scripts/run.sh 256``). Its frame 0 reproduces the context frame, so it
is dropped and the other 15 frames are the benchmark's L = 15: no temporal resampling
at the defaults, and no spatial fitting at 256x256. All of it is in ``describe()``.

Torch is imported inside methods: `hcvg adapters list` imports this module.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from adapters.diffusers_video.base import INPUT_FITS, INVERSE_SPATIAL, InputFit, fit_context
from adapters.dynamicrafter.config import PUBLISHED_SAMPLING, UPSTREAM_COMMIT, UPSTREAM_REPO
from adapters.fitting import Fitting, TorchSettings, fit_native_videos, generators_for, release_device_memory
from hcvg.adapter import Adapter, Capabilities, GenerationRequest, NativeSettings

if TYPE_CHECKING:
    from adapters.dynamicrafter.config import DynamiCrafterConfig
    from adapters.dynamicrafter.pipeline import DynamiCrafterPipeline

ASSET = "dynamicrafter-256"
CONFIGS: tuple[str, ...] = ("published", "tiny")


def _config(name: str) -> "DynamiCrafterConfig":
    from adapters.dynamicrafter.config import PUBLISHED, TINY

    return {"published": PUBLISHED, "tiny": TINY}[name]


class DynamiCrafterAdapter(Adapter):
    """DynamiCrafter (Xing et al., ECCV 2024), 256 model, native implementation.

    Options: ``checkpoint`` (the released ``model.ckpt`` or a native safetensors file;
    default: the ``dynamicrafter-256`` asset), ``config`` (published | tiny: the
    architecture the file holds), ``steps``, ``guidance``, ``eta``, ``frame_stride``,
    ``frames``, ``height`` / ``width`` (multiples of 64 at the published VAE and UNet),
    ``negative_prompt``, ``input_fit`` (resize | pad | center-crop), ``temporal`` (even |
    first | last), ``batch_size``, ``device``, ``dtype``, ``offload`` (none | model),
    ``vae_slicing``, ``vae_tiling``, ``attention`` (default, or a diffusers attention
    backend name), ``compile``.
    """

    name: ClassVar[str] = "dynamicrafter"
    capabilities: ClassVar[Capabilities] = Capabilities(needs_image=True, max_batch_size=1)
    native: ClassVar[NativeSettings] = NativeSettings(
        size=PUBLISHED_SAMPLING.size, frames=PUBLISHED_SAMPLING.frames, fps=None,
        steps=PUBLISHED_SAMPLING.steps, guidance=PUBLISHED_SAMPLING.guidance,
    )

    def __init__(
        self,
        checkpoint: str | None = None,
        config: Literal["published", "tiny"] = "published",
        steps: int | None = None,
        guidance: float | None = None,
        eta: float = PUBLISHED_SAMPLING.eta,
        frame_stride: int = PUBLISHED_SAMPLING.frame_stride,
        frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
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
    ):
        if config not in CONFIGS:
            raise ValueError(f"{self.name}: config must be one of {', '.join(CONFIGS)}; got {config!r}")
        if input_fit not in INPUT_FITS:
            raise ValueError(f"{self.name}: input_fit must be one of {', '.join(INPUT_FITS)}; got {input_fit!r}")
        if batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be >= 1; got {batch_size}")
        if offload == "sequential":
            raise ValueError(
                f"{self.name}: offload='sequential' is not supported: the native modules read parameters outside "
                "forward() (learned latents, gates), which per-layer hooks do not move; use offload=model"
            )
        cfg = _config(config)
        size = (height or PUBLISHED_SAMPLING.size[0], width or PUBLISHED_SAMPLING.size[1])
        multiple = cfg.vae_scale * 2 ** (len(cfg.unet["channel_mult"]) - 1)
        if size[0] % multiple or size[1] % multiple:
            raise ValueError(f"{self.name}: height and width must be multiples of {multiple} at config={config!r} (VAE x UNet downsampling); got {size}")
        frames = frames or PUBLISHED_SAMPLING.frames
        if frames < 2:
            raise ValueError(f"{self.name}: frames must be >= 2 (frame 0 is the context's); got {frames}")
        self.native = dataclasses.replace(
            type(self).native, size=size, frames=frames, steps=steps or PUBLISHED_SAMPLING.steps,
            guidance=guidance if guidance is not None else PUBLISHED_SAMPLING.guidance,
        )
        self.checkpoint, self.config_name = checkpoint, config
        self.eta, self.frame_stride, self.negative_prompt = float(eta), int(frame_stride), negative_prompt
        self.input_fit, self.temporal = input_fit, temporal
        self.torch = TorchSettings(device=device, dtype=dtype, offload=offload)
        self.vae_slicing, self.vae_tiling, self.attention, self.compile = vae_slicing, vae_tiling, attention, compile
        self.capabilities = dataclasses.replace(type(self).capabilities, max_batch_size=batch_size)
        self.pipe: "DynamiCrafterPipeline | None" = None
        self._shared_key: tuple[str, ...] | None = None

    # -- declarations ------------------------------------------------------------
    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        return (ASSET,)

    @classmethod
    def locate_asset(cls, name: str) -> Path:
        # By the declaration itself, so the adapter finds its weights before the
        # package's entry points (pyproject's hcvg.assets group) are reinstalled.
        from adapters.dynamicrafter.weights import DYNAMICRAFTER_256
        from hcvg.assets import resolve_asset

        return resolve_asset(DYNAMICRAFTER_256 if name == ASSET else name)

    def options(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint, "config": self.config_name, "eta": self.eta, "frame_stride": self.frame_stride,
            "negative_prompt": self.negative_prompt, "input_fit": self.input_fit, "temporal": self.temporal,
            "torch": self.torch.describe(), "vae_slicing": self.vae_slicing, "vae_tiling": self.vae_tiling,
            "attention": self.attention, "compile": self.compile,
            "implementation": f"native port of {UPSTREAM_REPO} at {UPSTREAM_COMMIT} (adapters.dynamicrafter)",
            "sampler": "DDIM, uniform (leading) spacing, guidance on text+image jointly (uncond: empty prompt, zero image)",
        }

    def output_fitting(self) -> Fitting:
        """Native video → clip: frame 0 (the context's) dropped, the rest resampled to L; the inverse of ``input_fit``."""
        return Fitting(spatial=INVERSE_SPATIAL[self.input_fit], temporal=self.temporal, drop_context=True)  # type: ignore[arg-type]

    def fitting(self) -> dict[str, Any]:
        height, width = self.native.size or PUBLISHED_SAMPLING.size
        return {
            **self.output_fitting().describe(),
            "context": f"fitted to the native {height}x{width} by {self.input_fit!r}, in [-1, 1]",
            "native_to_benchmark": (
                f"{self.native.frames} frames at {height}x{width}; frame 0 reproduces the context and is dropped, "
                f"the other {self.native.frames - 1} are resampled ({self.temporal}) to L"
            ),
            "frame_stride": (
                f"{self.frame_stride} (the 256 model's motion control; the authors' default is "
                f"{PUBLISHED_SAMPLING.frame_stride}). The model takes no fps: the benchmark's clips span the action "
                "segment evenly, so no stride matches them exactly"
            ),
            "prompt": "the split's expanded prompt when it has one, else the action text (upstream runs with --text_input)",
        }

    # -- weights -----------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        """The file to load: ``checkpoint=`` if given (it must exist), else the asset.

        Raises:
            AssetNotFoundError: Naming where it was looked for and how to get it.
        """
        from adapters.dynamicrafter.weights import DYNAMICRAFTER_256
        from hcvg.assets import resolve_asset

        return resolve_asset(DYNAMICRAFTER_256, self.checkpoint)

    # -- lifecycle ---------------------------------------------------------------
    def load(self) -> None:
        import torch

        from adapters.dynamicrafter.encoders import OpenCLIPConditioner
        from adapters.dynamicrafter.loading import load_components
        from adapters.dynamicrafter.pipeline import DynamiCrafterPipeline
        from adapters.dynamicrafter.sampler import make_scheduler
        from adapters.shared_encoders import shared_encoder

        cfg = _config(self.config_name)
        # Options that can fail are checked before ~10 GB of weights are read.
        backend = _checked_backend(self.attention, self.name) if self.attention != "default" else None
        path = self.checkpoint_path()
        device, dtype = self.torch.resolve_device(), self.torch.resolve_dtype()
        offload = self.torch.offload == "model"
        home = torch.device("cpu") if offload else device
        modules, build_clip = load_components(path, cfg)
        unet, resampler, vae = (_placed(modules[c], home, dtype) for c in ("unet", "resampler", "vae"))
        self._shared_key = ("openclip-vit-h-14", f"dynamicrafter:{self.config_name}", str(path.resolve()), str(dtype).removeprefix("torch."), str(home))
        conditioner = shared_encoder(self._shared_key, lambda: _placed(OpenCLIPConditioner(build_clip()), home, dtype))
        if self.vae_slicing:
            vae.enable_slicing()
        if self.vae_tiling:
            vae.enable_tiling()
        if backend is not None:
            unet.set_attention_backend(backend)
        if self.compile:
            unet.compile()
        self.pipe = DynamiCrafterPipeline(unet, resampler, vae, conditioner, make_scheduler(), device, dtype, offload=offload)

    def close(self) -> None:
        self.pipe = None
        release_device_memory()

    # -- generation --------------------------------------------------------------
    def prompts(self, requests: list[GenerationRequest]) -> list[str]:
        return [r.expanded_prompt or r.prompt for r in requests]

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        if self.pipe is None:
            raise RuntimeError(f"{self.name}: generate() before load() or after close()")
        import torch

        assert self.native.size is not None and self.native.frames is not None
        contexts = np.stack([fit_context(r.context, self.native.size, self.input_fit) for r in requests])
        images = torch.from_numpy(contexts).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        videos = self.pipe(
            self.prompts(requests), images, generators_for(requests), num_frames=self.native.frames,
            num_inference_steps=self.native.steps or PUBLISHED_SAMPLING.steps,
            guidance_scale=self.native.guidance if self.native.guidance is not None else PUBLISHED_SAMPLING.guidance,
            eta=self.eta, frame_stride=self.frame_stride, negative_prompt=self.negative_prompt,
        )
        return fit_native_videos(videos, requests, self.output_fitting(), layout="TCHW", value_range="0,1", adapter=self.name)

    # -- tests -------------------------------------------------------------------
    @classmethod
    def for_tests(cls) -> "DynamiCrafterAdapter":
        """The tiny configuration with random weights (a native checkpoint made once per machine), 1 step, 16x16."""
        return cls(checkpoint=str(tiny_checkpoint()), config="tiny", steps=1, height=16, width=16, device="cpu")


def _placed(module: Any, device: Any, dtype: Any) -> Any:
    """``module`` on ``device`` in ``dtype``, casting only when needed (diffusers warns on every cast)."""
    if any(p.dtype != dtype for p in module.parameters()):
        module = module.to(dtype=dtype)
    return module.to(device=device)


def _checked_backend(name: str, where: str) -> str:
    """A diffusers attention backend that exists, runs here and downloads nothing."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements

    try:
        backend = AttentionBackendName(name)
    except ValueError as err:
        choices = ", ".join(b.value for b in AttentionBackendName if not b.value.endswith("_hub"))
        raise ValueError(f"{where}: attention={name!r} is not a diffusers attention backend; one of: default, {choices}") from err
    if backend.value.endswith("_hub"):
        raise ValueError(f"{where}: attention={name!r} fetches its kernel from the hub at run time; nothing downloads here")
    try:
        _check_attention_backend_requirements(backend)
    except (RuntimeError, ImportError) as err:
        raise ValueError(f"{where}: attention backend {name!r}: {err}") from err
    return backend.value


def tiny_checkpoint() -> Path:
    """A native safetensors checkpoint of the tiny configuration (seed 0), written once and reused.

    Written to a temp name and renamed into place, so two test processes never read a
    half-written file.
    """
    import diffusers
    import torch

    from adapters.dynamicrafter.loading import COMPONENTS, build_module, save_native

    root = Path(os.environ.get("HCVG_TINY_PIPELINES") or Path(tempfile.gettempdir()) / "hcvg-tiny-pipelines")
    path = root / f"diffusers-{diffusers.__version__}-torch-{torch.__version__}" / "dynamicrafter-tiny.safetensors"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = _config("tiny")
    torch.manual_seed(0)
    components = {c: build_module(c, cfg).state_dict() for c in COMPONENTS}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dynamicrafter-tiny.", suffix=".safetensors")
    os.close(fd)
    try:
        save_native(components, tmp, "tiny")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
