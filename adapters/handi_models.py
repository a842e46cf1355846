"""`handi`, `animate-anything` and `handi-tiny`: the reference model and its backbone as adapters.

All three drive `handi.pipeline.HandiPipeline`. ``handi`` is the full two-stage method
(Table 2's switches as options: ``mask`` = stage1 | prior | gt | none, ``hrl`` = on | off);
``animate-anything`` is the same backbone with no stage 1 and no HRL (Table 2, row 1; a
user mask is the GT motion area, ``mask=gt``); ``handi-tiny`` is the tiny model trained
on the demo split that ships in the package.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from adapters.fitting import Fitting, TorchSettings, fit_video, generators_for
from hcvg.adapter import Adapter, Capabilities, GenerationRequest, NativeSettings
from hcvg.assets import AssetNotFoundError, resolve_asset
from hcvg.options import OptionError

MaskSource = Literal["stage1", "prior", "gt", "none"]
Switch = Literal["on", "off"]


class HandiAdapter(Adapter):
    """HANDI (paper §3): stage-1 motion-area mask → morphology → stage-2 video → mask enforcement.

    Options: ``weights`` (a pipeline folder; default: the ``handi-ivg`` asset),
    ``mask``, ``hrl``, ``steps`` (DPM-Solver++ steps per stage), ``guidance``,
    ``motion`` (motion strength), ``enforce`` (replace the background by the context),
    ``mask_strength`` (stage 1's start: 1 = pure noise, as published; less = the prior,
    partly noised),
    ``expander`` (prompt expansion, `handi.text`), ``batch_size`` and `TorchSettings`
    (device, dtype, offload). ``batch_size`` > 1 runs requests through the pipeline
    together: faster on a GPU, but convolutions then pick batch-dependent kernels, so a
    clip may differ from its single-call version in the last bit of a few pixels; the
    default 1 keeps every clip independent of its batch.
    """

    name: ClassVar[str] = "handi"
    asset: ClassVar[str] = "handi-ivg"
    # One request per pipeline call by default (see batch_size); mask=gt adds needs_mask.
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=1)
    native: ClassVar[NativeSettings] = NativeSettings(size=(256, 256), frames=15, fps=None, steps=25, guidance=9.0)
    #: Stage 1 from pure noise, as in the paper.
    default_mask_strength: ClassVar[float] = 1.0

    def __init__(
        self,
        weights: str | None = None,
        mask: MaskSource = "stage1",
        hrl: Switch = "on",
        steps: int = 25,
        guidance: float = 9.0,
        motion: float = 3.0,
        enforce: bool = True,
        expander: str = "identity",
        mask_strength: float | None = None,
        batch_size: int = 1,
        device: str = "auto",
        dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto",
        offload: Literal["none", "model", "sequential"] = "none",
    ):
        self.weights = weights
        self.mask = mask
        if self.mask not in ("stage1", "prior", "gt", "none"):
            raise ValueError(f"{self.name}: mask must be stage1, prior, gt or none; got {self.mask!r}")
        if hrl not in ("on", "off"):
            raise ValueError(f"{self.name}: hrl must be on or off; got {hrl!r}")
        if steps < 1:
            raise ValueError(f"{self.name}: steps must be >= 1; got {steps}")
        self.hrl, self.steps, self.guidance, self.motion, self.enforce = hrl, steps, guidance, motion, enforce
        self.expander_name = expander
        self.mask_strength = type(self).default_mask_strength if mask_strength is None else mask_strength
        self.torch = TorchSettings(device=device, dtype=dtype, offload=offload)
        # The GT motion area is read only when it is the mask (Table 2's "GT" rows).
        self.capabilities = dataclasses.replace(type(self).capabilities, needs_mask=self.mask == "gt", max_batch_size=batch_size)
        self.native = dataclasses.replace(type(self).native, steps=steps, guidance=guidance)
        self.pipe: Any = None
        self.expander: Any = None

    @classmethod
    def for_tests(cls) -> "HandiAdapter":
        return cls(weights=str(HandiTinyAdapter().weights_dir()), steps=2, device="cpu")

    def options(self) -> dict[str, Any]:
        return {
            "weights": self.weights, "mask": self.mask, "hrl": self.hrl, "steps": self.steps, "guidance": self.guidance,
            "motion": self.motion, "enforce": self.enforce, "mask_strength": self.mask_strength, "expander": self.expander_name, "torch": self.torch.describe(),
        }

    def fitting(self) -> dict[str, Any]:
        # The pipeline returns exactly L frames (context dropped inside the UNet) at the native size.
        return Fitting(spatial="resize", temporal="strict").describe()

    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        return (cls.asset,)

    def weights_dir(self) -> Path:
        # weights= (must exist) → the asset as `locate_asset` finds it.
        if self.weights:
            return resolve_asset(self.asset, self.weights)
        return self.locate_asset(self.asset)

    def load(self) -> None:
        from handi.loading import load_handi_pipeline
        from handi.text import PROMPT_EXPANDERS

        pipe = load_handi_pipeline(self.weights_dir(), hrl=self.hrl, dtype=self.torch.resolve_dtype())
        if self.mask == "stage1" and pipe.mask_unet is None:
            raise ValueError(
                f"{self.name}: {self.weights_dir()} has no stage-1 mask_unet/ (the released IVG_1.0 has none); "
                "train one with `hcvg train handi --stage 1`, or pass mask=prior|gt|none"
            )
        if self.mask in ("stage1", "prior") and pipe.prior_mask is None:
            raise ValueError(f"{self.name}: {self.weights_dir()} has no prior_mask.npy; compute it with `hcvg masks prior`")
        pipe.set_progress_bar_config(disable=True)
        self.pipe = self.torch.place(pipe)
        self.expander = PROMPT_EXPANDERS.create(self.expander_name)

    def close(self) -> None:
        self.pipe = None
        self.expander = None
        import gc

        gc.collect()

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        if self.pipe is None:
            raise RuntimeError(f"{self.name}: generate() before load() or after close()")
        # A split's own expansion wins; otherwise the configured expander (identity by default).
        expanded = self.expander.expand([r.prompt for r in requests])
        prompts = [r.expanded_prompt or e for r, e in zip(requests, expanded)]
        gt = np.stack([r.motion_area for r in requests]) if self.mask == "gt" else None
        result = self.pipe(
            np.stack([r.context for r in requests]), prompts, num_frames=requests[0].num_frames, mask=self.mask, gt_mask=gt,
            num_inference_steps=self.steps, guidance_scale=self.guidance, motion_strength=self.motion,
            enforce_mask=self.enforce, mask_strength=self.mask_strength, size=self.native.size, generator=generators_for(requests),
        )
        fitting = Fitting(spatial="resize", temporal="strict")
        return [fit_video(video, r, fitting, source=f"{self.name}") for video, r in zip(result.frames, requests)]


class AnimateAnythingAdapter(HandiAdapter):
    """AnimateAnything (Dai et al.): HANDI's backbone with no stage 1 and no HRL (Table 2, row 1).

    ``mask=none`` (default) animates the whole frame; ``mask=gt`` uses the GT motion
    area as the user mask AnimateAnything takes.
    """

    name: ClassVar[str] = "animate-anything"
    asset: ClassVar[str] = "animate-anything"

    # (`mask` has no None: the CLI's option coercion reads the value "none" as None.)
    def __init__(self, weights: str | None = None, mask: Literal["none", "gt", "prior"] = "none", **options: Any):
        if "hrl" in options:  # the HRL is HANDI's; AnimateAnything's weights are what they are
            raise OptionError(f"adapter {self.name!r}: unknown option 'hrl': AnimateAnything has no Hand Refinement Loss switch")
        super().__init__(weights=weights, mask=mask, hrl="on", **options)


class HandiTinyAdapter(HandiAdapter):
    """The tiny HANDI trained on the demo split (64², fitted to 256²), shipped in the package."""

    name: ClassVar[str] = "handi-tiny"
    asset: ClassVar[str] = "handi-tiny"
    native: ClassVar[NativeSettings] = NativeSettings(size=(64, 64), frames=15, fps=None, steps=25, guidance=9.0)
    # Trained for minutes, its stage 1 localizes better from the prior than from noise
    # (held-out IoU in handi/weights/handi-tiny/TRAINING.json).
    default_mask_strength: ClassVar[float] = 0.3

    @classmethod
    def locate_asset(cls, name: str) -> Path:
        # $HCVG_HANDI_TINY → asset cache → hub cache → the copy inside the package
        # (weights= is handled by weights_dir before this is asked).
        try:
            return resolve_asset(name)
        except AssetNotFoundError:
            packaged = _tiny_default() if name == cls.asset else None
            if packaged is None:
                raise
            return Path(packaged)

    @classmethod
    def for_tests(cls) -> "HandiTinyAdapter":
        return cls(steps=2, device="cpu")


def _tiny_default() -> str | None:
    from handi.weights_assets import TINY_WEIGHTS_DIR

    return str(TINY_WEIGHTS_DIR) if TINY_WEIGHTS_DIR.is_dir() else None
