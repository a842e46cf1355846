"""Open-Sora 1.2 as two adapters: image-to-video (`open-sora`) and text-to-video (`open-sora-t2v`).

Native settings (configs/opensora-v1-2/inference/sample.py and aspect.py at v1.2.0):
256×256 (the "256" bucket at 1:1, which v1.2 was trained on), 51 frames (the "2s"
preset) at 24 fps, 30 rectified-flow steps, guidance 7, aesthetic score 6.5. The
image-to-video adapter gives the context frame as ``reference_path`` with mask
strategy ``"0"`` (latent frame 0 = the encoded context, kept as given); the returned
video's frame 0 reproduces the context and is dropped; the other 50 are resampled
evenly to the benchmark's 15. The text-to-video adapter (as the HANDI paper ran
Open-Sora) gets no context; its 51 frames are resampled evenly to 15.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from adapters.fitting import Fitting, TorchSettings, fit_native_videos, generators_for, release_device_memory
from hcvg.adapter import Adapter, Capabilities, GenerationRequest, NativeSettings
from hcvg.assets import resolve_asset

if TYPE_CHECKING:
    from adapters.opensora.pipeline import OpenSoraPipeline

#: The released inference config's settings (see the module docstring).
OPENSORA_NATIVE = NativeSettings(size=(256, 256), frames=51, fps=24.0, steps=30, guidance=7.0)
ATTENTION_BACKENDS: tuple[str, ...] = ("default", "flash", "efficient", "cudnn", "math")
INPUT_FITS: tuple[str, ...] = ("center-crop", "resize", "pad")
#: The output policy undoing each way of fitting the context in (as the diffusers adapters).
_OUTPUT_SPATIAL = {"center-crop": "pad", "resize": "resize", "pad": "center-crop"}


class OpenSoraAdapter(Adapter):
    """Open-Sora 1.2 (STDiT3-XL/2 + its video VAE + T5-XXL), image-to-video.

    Options: ``transformer``, ``vae``, ``text_encoder`` (paths of the official
    ``OpenSora-STDiT-v3`` and ``OpenSora-VAE-v1.2`` files and of a T5 v1.1 XXL folder;
    default: the assets ``opensora-stdit-v3``, ``opensora-vae-v1.2``, ``t5-v1_1-xxl``),
    ``model_config`` (``published``, or ``tiny`` for tests), ``steps``, ``guidance``,
    ``height`` / ``width`` / ``frames`` (17·n) / ``fps``, ``aesthetic_score`` (appended
    to the prompt; negative: none), ``input_fit`` (how the context reaches the native
    size: center-crop, as upstream's ``resize_crop``, resize or pad), ``temporal`` (even
    | first | last), ``batch_size``, ``device``, ``dtype``, ``offload`` (none | model:
    each component on the GPU only while it runs), ``vae_tiling`` (the image VAE in
    tiles), ``vae_micro_batch`` (frames the image VAE takes at once, 4 as upstream),
    ``attention`` (torch SDPA backend: default | flash | efficient | cudnn | math),
    ``compile`` (``torch.compile`` the denoiser), ``text_dtype`` (the T5's dtype:
    float32, as upstream's inference script builds it; bfloat16 halves its 19 GB).
    """

    name: ClassVar[str] = "open-sora"
    text_only: ClassVar[bool] = False
    capabilities: ClassVar[Capabilities] = Capabilities(needs_image=True, max_batch_size=1)
    native: ClassVar[NativeSettings] = OPENSORA_NATIVE
    assets: ClassVar[tuple[str, str, str]] = ("opensora-stdit-v3", "opensora-vae-v1.2", "t5-v1_1-xxl")

    def __init__(
        self,
        transformer: str | None = None,
        vae: str | None = None,
        text_encoder: str | None = None,
        model_config: Literal["published", "tiny"] = "published",
        steps: int | None = None,
        guidance: float | None = None,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        fps: float | None = None,
        aesthetic_score: float = 6.5,
        input_fit: Literal["center-crop", "resize", "pad"] = "center-crop",
        temporal: Literal["even", "first", "last"] = "even",
        batch_size: int = 1,
        device: str = "auto",
        dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto",
        offload: Literal["none", "model"] = "none",
        vae_tiling: bool = False,
        vae_micro_batch: int = 4,
        attention: str = "default",
        compile: bool = False,
        text_dtype: Literal["float32", "bfloat16", "float16"] = "float32",
    ):
        base = type(self).native
        size = (height or base.size[0], width or base.size[1])
        frames = frames or base.frames
        if model_config not in ("published", "tiny"):
            raise ValueError(f"{self.name}: model_config must be published or tiny; got {model_config!r}")
        if frames % 17:
            raise ValueError(f"{self.name}: frames must be a multiple of 17 (the VAE encodes 17-frame chunks to 5 latent frames); got {frames}")
        if input_fit not in INPUT_FITS:
            raise ValueError(f"{self.name}: input_fit must be one of {', '.join(INPUT_FITS)}; got {input_fit!r}")
        if attention not in ATTENTION_BACKENDS:
            raise ValueError(f"{self.name}: attention must be one of {', '.join(ATTENTION_BACKENDS)}; got {attention!r}")
        if offload not in ("none", "model"):
            raise ValueError(f"{self.name}: offload must be none or model (this native port has no sequential offload); got {offload!r}")
        if batch_size < 1 or vae_micro_batch < 1:
            raise ValueError(f"{self.name}: batch_size and vae_micro_batch must be >= 1; got {batch_size}, {vae_micro_batch}")
        self.native = dataclasses.replace(
            base, size=size, frames=frames, fps=fps if fps is not None else base.fps, steps=steps or base.steps,
            guidance=guidance if guidance is not None else base.guidance,
        )
        self.paths = {"transformer": transformer, "vae": vae, "text_encoder": text_encoder}
        self.model_config = model_config
        self.aesthetic_score = None if aesthetic_score < 0 else aesthetic_score
        self.input_fit, self.temporal = input_fit, temporal
        self.torch = TorchSettings(device=device, dtype=dtype, offload="none")
        self.offload, self.vae_tiling, self.vae_micro_batch = offload, vae_tiling, vae_micro_batch
        self.attention, self.compile = attention, compile
        if text_dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"{self.name}: text_dtype must be float32, bfloat16 or float16; got {text_dtype!r}")
        self.text_dtype = text_dtype
        if offload == "model" and self.torch.resolve_device().type != "cuda":
            raise ValueError(f"{self.name}: offload=model moves components to a CUDA device, but the device is {self.torch.resolve_device()}; pass offload=none")
        self.capabilities = dataclasses.replace(type(self).capabilities, max_batch_size=batch_size)
        self.pipe: "OpenSoraPipeline | None" = None

    # -- declarations ------------------------------------------------------------
    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        return cls.assets

    def options(self) -> dict[str, Any]:
        from adapters.opensora import config

        return {
            **self.paths, "model_config": self.model_config, "aesthetic_score": self.aesthetic_score,
            "input_fit": self.input_fit, "temporal": self.temporal, "torch": self.torch.describe(), "offload": self.offload,
            "vae_tiling": self.vae_tiling, "vae_micro_batch": self.vae_micro_batch, "attention": self.attention,
            "compile": self.compile, "text_dtype": self.text_dtype, "upstream": f"{config.UPSTREAM_REPO} {config.UPSTREAM_TAG} ({config.UPSTREAM_COMMIT})",
            "sampler": "rectified flow, timestep shift by resolution and frames, classifier-free guidance",
        }

    def output_fitting(self) -> Fitting:
        spatial = _OUTPUT_SPATIAL[self.input_fit] if not self.text_only else "center-crop"
        return Fitting(spatial=spatial, temporal=self.temporal, drop_context=not self.text_only)  # type: ignore[arg-type]

    def fitting(self) -> dict[str, Any]:
        return {
            **self.output_fitting().describe(),
            "context": ("not given (text-to-video)" if self.text_only else
                        f"fitted to the native size by {self.input_fit!r}, VAE-encoded as latent frame 0 (mask strategy '0': kept as given)"),
            "fps": f"{self.native.fps:g} fps passed to the model",
            "prompt": "the action text" + (f" + ' aesthetic score: {self.aesthetic_score:.1f}.'" if self.aesthetic_score is not None else ""),
        }

    # -- lifecycle ---------------------------------------------------------------
    @classmethod
    def locate_asset(cls, name: str) -> Path:
        # By the declaration itself: found even where the entry points are not installed.
        return resolve_asset(_asset(name))

    def _path(self, part: str, asset: str) -> Path:
        given = self.paths[part]
        return resolve_asset(_asset(asset), given) if given is not None else resolve_asset(_asset(asset))

    def load(self) -> None:
        from adapters.opensora.loading import load_pipeline

        import torch

        paths = {part: self._path(part, asset) for part, asset in zip(("transformer", "vae", "text_encoder"), self.assets)}
        device, dtype = self.torch.resolve_device(), self.torch.resolve_dtype()
        self.pipe = load_pipeline(
            paths["transformer"], paths["vae"], paths["text_encoder"], self.model_config, device, dtype,
            offload=self.offload, attention=self.attention, vae_micro_batch=self.vae_micro_batch,
            vae_tiling=self.vae_tiling, compile=self.compile, text_dtype=getattr(torch, self.text_dtype),
        )

    def close(self) -> None:
        self.pipe = None
        release_device_memory()

    # -- generation --------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        if self.pipe is None:
            raise RuntimeError(f"{self.name}: generate() before load() or after close()")
        import torch

        height, width = self.native.size
        images = None
        if not self.text_only:
            from adapters.diffusers_video.base import fit_context

            contexts = np.stack([fit_context(r.context, (height, width), self.input_fit) for r in requests])
            images = torch.from_numpy(contexts).permute(0, 3, 1, 2).float() / 127.5 - 1
        videos = self.pipe(
            [r.expanded_prompt or r.prompt for r in requests], generators_for(requests), images=images, height=height,
            width=width, num_frames=self.native.frames, num_steps=self.native.steps, guidance=self.native.guidance,
            fps=self.native.fps, aesthetic_score=self.aesthetic_score,
        )
        return fit_native_videos(videos, requests, self.output_fitting(), layout="CTHW", value_range="-1,1", adapter=self.name)

    # -- tests -------------------------------------------------------------------
    @classmethod
    def for_tests(cls) -> "OpenSoraAdapter":
        from adapters.diffusers_video.base import tiny_pipeline_folder
        from adapters.opensora.pipeline import build_tiny_checkpoints

        import hashlib
        import json

        from adapters.opensora import config

        # Named by the tiny configs, so a changed config never reuses older files.
        tiny = [config.STDIT3_TINY, config.SPATIAL_VAE_TINY, config.TEMPORAL_VAE_TINY, config.T5_TINY]
        digest = hashlib.sha256(json.dumps(tiny, sort_keys=True, default=str).encode()).hexdigest()[:10]
        folder = tiny_pipeline_folder(f"OpenSoraTiny-{digest}", lambda: _TinyCheckpoints(build_tiny_checkpoints), marker="vae.safetensors")
        return cls(
            transformer=str(folder / "stdit3.safetensors"), vae=str(folder / "vae.safetensors"), text_encoder=str(folder / "t5"),
            model_config="tiny", steps=2, height=16, width=16, frames=17, device="cpu",
        )


class OpenSoraTextToVideoAdapter(OpenSoraAdapter):
    """Open-Sora 1.2 text-to-video, as the HANDI paper ran it: the action text only, no context frame."""

    name: ClassVar[str] = "open-sora-t2v"
    text_only: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities] = Capabilities(needs_image=False, max_batch_size=1)


def _asset(name: str):
    from adapters.opensora import checkpoints

    return {a.name: a for a in (checkpoints.OPENSORA_STDIT3, checkpoints.OPENSORA_VAE, checkpoints.T5_V1_1_XXL)}[name]


class _TinyCheckpoints:
    """Adapts `build_tiny_checkpoints` to `tiny_pipeline_folder`'s ``save_pretrained`` protocol."""

    def __init__(self, build):
        self.build = build

    def save_pretrained(self, folder: str) -> None:
        self.build(folder)
