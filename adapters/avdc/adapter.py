"""The `avdc` adapter: AVDC's pixel-space video diffusion, fitted to the benchmark.

Native → benchmark mapping (recorded by `describe()`):

- **size**: the context (256²) is fitted to the variant's native size (Bridge 48×64,
  iTHOR 64², Meta-World 128², or a fine-tuned folder's) by ``input_fit`` (default
  ``resize``, as the Bridge and iTHOR inference scripts do), and the generated frames
  are fitted back to 256² with the inverse policy;
- **frames**: the UNet's temporal convolutions take any clip length, so it generates
  ``frames`` = 15 frames after the context (the released models were trained on 6 or 7;
  ``hcvg train avdc`` fine-tunes at 15), resampled to L under ``temporal`` if they differ;
- **sampling**: 100 steps = the authors' ancestral DDPM, fewer = their DDIM;
  guidance off (w = 0), as in their scripts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from adapters.avdc.checkpoints import CHECKPOINTS, CLIP_VIT_B_32
from adapters.avdc.config import DEFAULT_GUIDANCE, DEFAULT_STEPS, DEFAULT_VARIANT, UPSTREAM, UPSTREAM_COMMIT, VARIANTS, get_variant
from adapters.diffusers_video.base import INPUT_FITS, INVERSE_SPATIAL, fit_context
from adapters.fitting import Fitting, TorchSettings, fit_native_videos, generators_for, release_device_memory
from hcvg.adapter import Adapter, Capabilities, GenerationRequest, NativeSettings
from hcvg.assets import Asset, resolve_asset

_ASSETS: dict[str, Asset] = {a.name: a for a in (*CHECKPOINTS.values(), CLIP_VIT_B_32)}
#: The benchmark's clip length, generated natively (see the module docstring).
BENCHMARK_FRAMES = 15


class AVDCAdapter(Adapter):
    """AVDC (Ko et al. 2023): first frame + text → frames, a 3D UNet in pixel space.

    Options: ``variant`` (metaworld | ithor | bridge: which release, default bridge),
    ``weights`` (an official ``model-N.pt``, or a folder from ``hcvg train avdc``;
    default: the variant's checkpoint asset), ``source`` (ema | model: which weights
    of an official file), ``text_encoder`` (a CLIP ViT-B/32 transformers folder;
    default: the folder's own, else the ``clip-vit-b-32`` asset), ``steps``,
    ``guidance``, ``height`` / ``width`` / ``frames`` (native), ``input_fit`` (resize |
    pad | center-crop), ``temporal`` (even | first | last), ``batch_size``, ``device``,
    ``dtype`` (default float32, the authors' inference precision).
    """

    name: ClassVar[str] = "avdc"
    capabilities: ClassVar[Capabilities] = Capabilities(needs_image=True, max_batch_size=4)
    native: ClassVar[NativeSettings] = NativeSettings(
        size=VARIANTS[DEFAULT_VARIANT].size, frames=BENCHMARK_FRAMES, fps=None, steps=DEFAULT_STEPS, guidance=DEFAULT_GUIDANCE,
    )

    def __init__(
        self,
        variant: Literal["metaworld", "ithor", "bridge", "tiny"] = DEFAULT_VARIANT,  # type: ignore[assignment]
        weights: str | None = None,
        source: Literal["ema", "model"] = "ema",
        text_encoder: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        height: int | None = None,
        width: int | None = None,
        frames: int | None = None,
        input_fit: Literal["resize", "pad", "center-crop"] = "resize",
        temporal: Literal["even", "first", "last"] = "even",
        batch_size: int = 4,
        device: str = "auto",
        dtype: Literal["auto", "float32", "float16", "bfloat16"] = "float32",
    ):
        self.variant = get_variant(variant)
        if variant == "tiny" and weights is None:
            raise ValueError("avdc: variant=tiny has no released checkpoint; pass weights=FOLDER (e.g. from `hcvg train avdc`)")
        if input_fit not in INPUT_FITS:
            raise ValueError(f"avdc: input_fit must be one of {', '.join(INPUT_FITS)}; got {input_fit!r}")
        if batch_size < 1:
            raise ValueError(f"avdc: batch_size must be >= 1; got {batch_size}")
        self.weights, self.source, self.text_encoder_path = weights, source, text_encoder
        self.trained = self._trained_shape()
        size = (self.trained.height, self.trained.width) if self.trained else self.variant.size
        steps = steps or DEFAULT_STEPS
        if not 1 <= steps <= 100:
            raise ValueError(f"avdc: steps must be 1..100 (100 = DDPM, fewer = DDIM); got {steps}")
        self.native = dataclasses.replace(
            type(self).native, size=(height or size[0], width or size[1]), frames=frames or BENCHMARK_FRAMES, steps=steps,
            guidance=DEFAULT_GUIDANCE if guidance is None else float(guidance),
        )
        levels = len(self.variant.unet["channel_mult"]) - 1
        if any(s % (2**levels) for s in self.native.size):
            raise ValueError(f"avdc: height and width must be multiples of {2**levels} for variant {self.variant.name}; got {self.native.size}")
        self.input_fit, self.temporal = input_fit, temporal
        self.torch = TorchSettings(device=device, dtype=dtype)
        self.capabilities = dataclasses.replace(type(self).capabilities, max_batch_size=batch_size)
        self.pipe: Any = None

    # -- declarations ------------------------------------------------------------------
    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        return (CHECKPOINTS[DEFAULT_VARIANT].name, CLIP_VIT_B_32.name)

    @classmethod
    def locate_asset(cls, name: str) -> Path:
        # By the declaration itself: the names are also registered (pyproject), but this
        # finds them before the package's entry points are reinstalled.
        return resolve_asset(_ASSETS.get(name, name))  # type: ignore[arg-type]

    def options(self) -> dict[str, Any]:
        return {
            "variant": self.variant.name, "weights": self.weights, "source": self.source, "text_encoder": self.text_encoder_path,
            "input_fit": self.input_fit, "temporal": self.temporal, "torch": self.torch.describe(),
            "upstream": f"{UPSTREAM} @ {UPSTREAM_COMMIT}",
        }

    def output_fitting(self) -> Fitting:
        return Fitting(spatial=INVERSE_SPATIAL[self.input_fit], temporal=self.temporal, drop_context=False)  # type: ignore[arg-type]

    def fitting(self) -> dict[str, Any]:
        trained = self.trained.to_dict() if self.trained else {
            "variant": self.variant.name, "height": self.variant.size[0], "width": self.variant.size[1], "frames": self.variant.frames,
        }
        return {
            **self.output_fitting().describe(),
            "context": f"fitted to the native size {self.native.size} by {self.input_fit!r} (authors' inference: {self.variant.input_resize})",
            "frames": f"{self.native.frames} generated after the context (the UNet takes any length), resampled to L by {self.temporal!r}",
            "trained_at": trained,
            "sampler": "DDPM, 100 steps" if self.native.steps == 100 else f"DDIM (eta 0), {self.native.steps} steps",
            "guidance": self.native.guidance,
        }

    # -- weights -----------------------------------------------------------------------
    def _trained_shape(self) -> Any:
        if self.weights is None or not Path(self.weights).is_dir():
            return None
        from adapters.avdc.pipeline import read_native_shape

        return read_native_shape(self.weights)

    def _load_unet(self, dtype: Any) -> Any:
        from adapters.avdc.unet import AVDCUNet3D

        if self.weights is not None and Path(self.weights).is_dir():
            return AVDCUNet3D.from_pretrained(Path(self.weights) / "unet", torch_dtype=dtype)
        if self.variant.name == "tiny":
            raise ValueError("avdc: variant=tiny loads only from a weights folder")
        from adapters.avdc.convert import load_official_checkpoint

        path = resolve_asset(CHECKPOINTS[self.variant.name], self.weights)
        unet = AVDCUNet3D(**self.variant.unet)
        unet.load_state_dict(load_official_checkpoint(path, unet.config, self.source), strict=True)
        return unet.to(dtype)

    def _text_folder(self) -> Path:
        if self.text_encoder_path is not None:
            return Path(self.text_encoder_path)
        if self.weights is not None and (Path(self.weights) / "text_encoder").is_dir():
            return Path(self.weights)
        return resolve_asset(CLIP_VIT_B_32).parent

    def _load_text(self, device: Any) -> tuple[Any, Any]:
        from transformers import CLIPTextModel, CLIPTokenizer

        from adapters.shared_encoders import shared_encoder

        folder = self._text_folder()
        bundled = (folder / "text_encoder").is_dir()
        model_dir, tokenizer_dir = (folder / "text_encoder", folder / "tokenizer") if bundled else (folder, folder)

        def build() -> Any:
            # Frozen and in float32, as the authors run it.
            return CLIPTextModel.from_pretrained(model_dir).to(device).eval().requires_grad_(False)

        encoder = shared_encoder(("clip-text", str(model_dir.resolve()), "float32", str(device)), build)
        return encoder, CLIPTokenizer.from_pretrained(tokenizer_dir)

    # -- lifecycle ---------------------------------------------------------------------
    def load(self) -> None:
        from adapters.avdc.pipeline import AVDCPipeline

        device, dtype = self.torch.resolve_device(), self.torch.resolve_dtype()
        unet = self._load_unet(dtype).to(device).eval()
        encoder, tokenizer = self._load_text(device)
        self.pipe = AVDCPipeline(unet, encoder, tokenizer)

    def close(self) -> None:
        self.pipe = None
        release_device_memory()

    # -- generation --------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        if self.pipe is None:
            raise RuntimeError("avdc: generate() before load() or after close()")
        import torch

        assert self.native.size is not None and self.native.frames is not None
        contexts = np.stack([fit_context(r.context, self.native.size, self.input_fit) for r in requests])
        context = torch.from_numpy(contexts).permute(0, 3, 1, 2).float() / 255.0  # [B, 3, H, W] in [0, 1]
        prompts = [r.prompt for r in requests]
        videos = self.pipe(context, prompts, self.native.frames, self.native.steps, self.native.guidance, generators_for(requests))
        return fit_native_videos(videos, requests, self.output_fitting(), layout="CTHW", value_range="0,1", adapter="avdc")

    # -- tests -------------------------------------------------------------------------
    @classmethod
    def for_tests(cls) -> "AVDCAdapter":
        from adapters.avdc.tiny import tiny_weights_folder

        # 8² instead of the tiny variant's 16²: 15 frames of it are what check_adapter runs 13 times.
        return cls(variant="tiny", weights=str(tiny_weights_folder()), steps=2, height=8, width=8, device="cpu", batch_size=3)
