"""`lfdm`: LFDM (latent flow diffusion) as a benchmark adapter.

Native: 128² frames, 40 frames of which frame 0 reconstructs the condition frame,
1000 ancestral steps (DDIM, eta 1, for fewer), no guidance (cond scale 1), BERT text of
the action label — the authors' demo settings. Benchmark mapping: the 256² context is
resized to 128² (INTER_AREA, as the demo's ``resize``); of the native frames the first is
dropped and the other 39 are resampled evenly to L = 15, then resized to 256².
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Literal

import cv2
import numpy as np

from adapters.fitting import Fitting, TorchSettings, fit_native_videos, generators_for, release_device_memory
from hcvg.adapter import Adapter, Capabilities, GenerationRequest, NativeSettings
from hcvg.assets import Asset, resolve_asset

Dataset = Literal["mug", "mhad", "natops"]


def _asset(name: str) -> Asset:
    from adapters.lfdm.checkpoints import BERT_BASE_CASED, RELEASED

    assets = {a.name: a for pair in RELEASED.values() for a in pair}
    assets[BERT_BASE_CASED.name] = BERT_BASE_CASED
    if name not in assets:
        raise KeyError(f"lfdm: unknown asset {name!r}; known: {sorted(assets)}")
    return assets[name]


class LFDMAdapter(Adapter):
    """LFDM (Ni et al., CVPR 2023), the port in `adapters.lfdm`.

    Options: ``weights`` (a folder written by ``LFDMPipeline.save_pretrained``, e.g. by
    ``hcvg train lfdm``; default: the authors' released files), ``dataset`` (mug | mhad |
    natops: which released pair and config), ``lfae`` / ``dm`` (explicit paths of the
    released files), ``text_encoder`` (a BERT folder; default: ``text_encoder/`` in
    ``weights``, else the ``bert-base-cased`` asset), ``steps`` (1000 = ancestral, fewer
    = DDIM), ``cond_scale`` (classifier-free guidance; 1 = off), ``frames`` (native
    frames, counting the reconstructed condition frame), ``temporal`` (even | first |
    last), ``batch_size``, ``device``, ``dtype`` (float32 by default, as the authors ran).
    """

    name: ClassVar[str] = "lfdm"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=1)
    native: ClassVar[NativeSettings] = NativeSettings(size=(128, 128), frames=40, fps=None, steps=1000, guidance=None)

    def __init__(
        self,
        weights: str | None = None,
        dataset: Dataset = "mug",
        lfae: str | None = None,
        dm: str | None = None,
        text_encoder: str | None = None,
        steps: int | None = None,
        cond_scale: float = 1.0,
        frames: int | None = None,
        temporal: Literal["even", "first", "last"] = "even",
        batch_size: int = 1,
        device: str = "auto",
        dtype: Literal["auto", "float32", "float16", "bfloat16"] = "float32",
    ):
        if dataset not in ("mug", "mhad", "natops"):
            raise ValueError(f"{self.name}: dataset must be mug, mhad or natops; got {dataset!r}")
        if weights is not None and (lfae is not None or dm is not None):
            raise ValueError(f"{self.name}: pass either weights= (a saved folder) or lfae=/dm= (the released files), not both")
        if steps is not None and not 1 <= steps <= 1000:
            raise ValueError(f"{self.name}: steps must be in [1, 1000] (1000: the ancestral sampler; fewer: DDIM); got {steps}")
        if frames is not None and frames < 2:
            raise ValueError(f"{self.name}: frames must be >= 2 (frame 0 reconstructs the context); got {frames}")
        if batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be >= 1; got {batch_size}")
        self.weights, self.dataset, self.lfae_path, self.dm_path, self.text_encoder_path = weights, dataset, lfae, dm, text_encoder
        self.cond_scale, self.temporal = cond_scale, temporal
        self.torch = TorchSettings(device=device, dtype=dtype)
        self.capabilities = dataclasses.replace(type(self).capabilities, max_batch_size=batch_size)
        size, native_frames, native_steps = saved_native(weights) or (type(self).native.size, type(self).native.frames, type(self).native.steps)
        self.native = dataclasses.replace(type(self).native, size=size, frames=frames or native_frames, steps=steps or native_steps,
                                          guidance=cond_scale if cond_scale != 1.0 else None)
        self.pipe: Any = None

    # -- declarations ------------------------------------------------------------
    @classmethod
    def required_assets(cls) -> tuple[str, ...]:
        from adapters.lfdm.checkpoints import BERT_BASE_CASED, RELEASED

        return (RELEASED["mug"][0].name, RELEASED["mug"][1].name, BERT_BASE_CASED.name)

    @classmethod
    def locate_asset(cls, name: str) -> Path:
        # The assets are declared in this package; resolve them by object, so a checkout
        # whose installed entry points predate them still finds them.
        return resolve_asset(_asset(name))

    def options(self) -> dict[str, Any]:
        return {
            "weights": self.weights, "dataset": self.dataset, "lfae": self.lfae_path, "dm": self.dm_path,
            "text_encoder": self.text_encoder_path, "cond_scale": self.cond_scale, "temporal": self.temporal,
            "prompt": "the action text (LFDM was trained on short class labels)", "torch": self.torch.describe(),
        }

    def output_fitting(self) -> Fitting:
        return Fitting(spatial="resize", temporal=self.temporal, drop_context=True)

    def fitting(self) -> dict[str, Any]:
        size = self.native.size
        return {
            **self.output_fitting().describe(),
            "context": f"resized to the native {size[0]}x{size[1]} (cv2 INTER_AREA, as the authors' demo)",
            "native_frames": f"{self.native.frames} generated; frame 0 reconstructs the context and is dropped, the rest resampled to L",
            "sampler": "ancestral (DDPM), 1000 steps" if self.native.steps == 1000 else f"DDIM, {self.native.steps} steps, eta 1",
        }

    # -- weights -----------------------------------------------------------------
    def _build(self) -> Any:
        from adapters.lfdm.checkpoints import RELEASED
        from adapters.lfdm.config import PUBLISHED
        from adapters.lfdm.convert import load_released
        from adapters.lfdm.pipeline import LFDMPipeline

        if self.weights is not None:
            return LFDMPipeline.from_pretrained(resolve_folder(self.weights, self.name))
        lfae_asset, dm_asset = RELEASED[self.dataset]
        lfae_file = resolve_asset(lfae_asset, self.lfae_path)
        dm_file = resolve_asset(dm_asset, self.dm_path)
        pipe = LFDMPipeline.from_config(PUBLISHED[self.dataset])
        lfae_state, unet_state = load_released(lfae_file, dm_file, pipe.config)
        pipe.lfae.load_state_dict(lfae_state, strict=True)
        pipe.unet.load_state_dict(unet_state, strict=True)
        return pipe

    def text_encoder_dir(self) -> Path:
        """The BERT folder: ``text_encoder=``, else ``weights/text_encoder``, else the ``bert-base-cased`` asset."""
        from adapters.lfdm.checkpoints import BERT_BASE_CASED

        if self.text_encoder_path is not None:
            return resolve_asset(BERT_BASE_CASED, self.text_encoder_path)
        if self.weights is not None and (Path(self.weights) / "text_encoder" / "config.json").is_file():
            return Path(self.weights) / "text_encoder"
        return resolve_asset(BERT_BASE_CASED)

    # -- lifecycle ---------------------------------------------------------------
    def load(self) -> None:
        from adapters.lfdm.text import load_bert
        from adapters.shared_encoders import shared_encoder

        device, dtype = self.torch.resolve_device(), self.torch.resolve_dtype()
        pipe = self._build().to(device, dtype)
        folder = self.text_encoder_dir()
        key = ("bert", str(folder.resolve()), str(dtype).removeprefix("torch."), str(device))
        tokenizer_box: list[Any] = []

        def build() -> Any:
            model, tokenizer = load_bert(folder, dtype, device)
            tokenizer_box.append(tokenizer)
            return model

        pipe.text_encoder = shared_encoder(key, build)
        if tokenizer_box:
            pipe.tokenizer = tokenizer_box[0]
        else:
            from transformers import BertTokenizer

            pipe.tokenizer = BertTokenizer.from_pretrained(folder)
        self.pipe = pipe

    def close(self) -> None:
        self.pipe = None
        release_device_memory()

    # -- generation --------------------------------------------------------------
    def native_images(self, requests: list[GenerationRequest]) -> Any:
        """float ``[B, 3, S, S]`` in [0, 1]: the contexts at the native size."""
        import torch

        size = self.pipe.config.image_size
        images = []
        for request in requests:
            context = request.context
            assert context is not None
            if context.shape[:2] != (size, size):
                shrink = size <= context.shape[0] and size <= context.shape[1]
                context = cv2.resize(context, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            images.append(torch.from_numpy(np.ascontiguousarray(context)).permute(2, 0, 1).float() / 255.0)
        return torch.stack(images)

    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        if self.pipe is None:
            raise RuntimeError(f"{self.name}: generate() before load() or after close()")
        videos = self.pipe(
            self.native_images(requests), [r.prompt for r in requests], generators_for(requests),
            num_frames=self.native.frames, steps=self.native.steps, cond_scale=self.cond_scale,
        )
        return fit_native_videos(videos, requests, self.output_fitting(), layout="TCHW", value_range="0,1", adapter=self.name)

    # -- tests -------------------------------------------------------------------
    @classmethod
    def for_tests(cls) -> "LFDMAdapter":
        from adapters.diffusers_video.base import tiny_pipeline_folder
        from adapters.lfdm.pipeline import CONFIG_FILE
        from adapters.lfdm.tiny import tiny_pipeline

        # The name carries a version: a cached folder of an older tiny config is not reused.
        folder = tiny_pipeline_folder("LFDMAdapter-tiny-v1", tiny_pipeline, marker=CONFIG_FILE)
        # 16 native frames: the context's reconstruction + 15, so L = 15 needs no invented frames.
        return cls(weights=str(folder), steps=2, frames=16, device="cpu")


def saved_native(weights: str | None) -> tuple[tuple[int, int], int, int] | None:
    """(size, frames, steps) of a saved weights folder's config, read without torch; None without one."""
    import json

    if weights is None or not (Path(weights) / "lfdm_config.json").is_file():
        return None
    config = json.loads((Path(weights) / "lfdm_config.json").read_text())
    return (config["image_size"], config["image_size"]), config["num_frames"], config["sampling_steps"]


def resolve_folder(path: str, what: str) -> Path:
    """An existing weights folder, or a clear error naming it.

    Raises:
        FileNotFoundError: If ``path`` is not a folder.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{what}: weights={path!r} is not a folder; pass a folder written by LFDMPipeline.save_pretrained (e.g. by `hcvg train lfdm`)")
    return folder
