"""Generation speed: HANDI (stage 1 + stage 2) and AnimateAnything (stage 2) per clip, per speed option.

Each clip is generated at the paper's settings: a 256² context image, 15 + 1 frames,
25 DPM-Solver++ steps per stage, classifier-free guidance 9, motion strength 3, the
mask enforced. Weights are random (speed does not depend on them) and seeded, so every
variant runs the same network on the same input, and its output is compared with the
reference's (``settings["latent_max_abs_diff_vs_reference"]``).

Sizes (`generation_size`):

- ``full``: the published networks (UNet 1.41 B parameters, SD-1.5 VAE, OpenCLIP ViT-H/14
  text tower) at 256²: a GPU's job; absolute seconds and the fraction of the device's peak.
- ``reduced``: the published UNet layout (4 levels, 3 with attention) at 1/10 the width
  (32-64-128-128, 32 channels per head, text width 128), a 4-level VAE of width 32-128,
  at 64² (8² latents), 15 + 1 frames, 25 steps: minutes on a CPU; read its ratios, not
  its seconds.
- ``tiny``: the tests' (tiny UNet and VAE at 64², 3 frames, 2 steps).

FLOPs are counted with `torch.utils.flop_counter.FlopCounterMode` on the meta device, one
network call at a time, then multiplied by the calls a clip makes (`clip_flops`): meta
tensors have shapes and no data, so the published size costs nothing to count, and
attention is counted as its matrix products (PyTorch's CPU flash-attention kernel has
no FLOP formula, so counting on a CPU would miss it).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.device_timer import DeviceTimer
from benchmark.speed.report import make_row

logger = logging.getLogger(__name__)

SECTION = "generation"
PROMPT = "cut the carrot with a knife"
#: The paper's number of sampling steps per stage (HANDI §4 "Implementation details").
PAPER_STEPS = 25


def _published_text_config() -> dict[str, Any]:
    """ModelScope's text encoder (OpenCLIP ViT-H/14's text tower, penultimate layer: 23 of 24 layers)."""
    return dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
                max_position_embeddings=77, hidden_act="gelu", projection_dim=1024)


@dataclass(frozen=True)
class GenerationSize:
    """One benchmark size: the networks' configs and the clip's shape.

    Attributes:
        name: ``tiny``, ``reduced`` or ``full``.
        unet: `HandiUNet3DConditionModel` arguments (stage 2; stage 1 drops the motion input).
        vae: `AutoencoderKL` arguments.
        text: `transformers.CLIPTextConfig` arguments.
        image_size: Frame side in pixels (latents are 1/8).
        frames: L, frames generated after the context.
        steps: Solver steps per stage.
        fast_steps: Solver steps per stage of the ``fast-preset`` variant.
        guidance: Classifier-free guidance scale (> 1: CFG on).
        motion: Motion strength.
    """

    name: str
    unet: dict[str, Any]
    vae: dict[str, Any]
    text: dict[str, Any]
    image_size: int
    frames: int = 15
    steps: int = PAPER_STEPS
    fast_steps: int = 12
    guidance: float = 9.0
    motion: float = 3.0

    def describe(self) -> dict[str, Any]:
        return {
            "size": self.name, "image_size": self.image_size, "latent_size": self.image_size // 8, "frames": self.frames,
            "steps": self.steps, "guidance": self.guidance, "motion_strength": self.motion,
            "unet_block_out_channels": list(self.unet["block_out_channels"]), "unet_cross_attention_dim": self.unet["cross_attention_dim"],
            "vae_block_out_channels": list(self.vae["block_out_channels"]), "text_hidden_size": self.text["hidden_size"],
            "text_layers": self.text["num_hidden_layers"],
        }


def _sizes() -> dict[str, GenerationSize]:
    from handi.models.configs import published_unet_config
    from handi.models.tiny import tiny_demo_unet_config
    from handi.models.vae import published_vae_config, tiny_vae_config
    from handi.pipeline import FAST_PRESET_STEPS

    published = published_unet_config()
    reduced_unet = {**published, "block_out_channels": [32, 64, 128, 128], "attention_head_dim": 32,
                    "cross_attention_dim": 128, "sample_size": 8}
    reduced_vae = {**published_vae_config(), "block_out_channels": (32, 64, 128, 128), "layers_per_block": 1, "sample_size": 64}
    reduced_text = dict(vocab_size=49408, hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                        max_position_embeddings=77, hidden_act="gelu", projection_dim=128)
    tiny_text = dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32)
    return {
        "tiny": GenerationSize("tiny", tiny_demo_unet_config(), tiny_vae_config(), tiny_text, image_size=64, frames=3,
                               steps=2, fast_steps=1),
        "reduced": GenerationSize("reduced", reduced_unet, reduced_vae, reduced_text, image_size=64, fast_steps=FAST_PRESET_STEPS),
        "full": GenerationSize("full", published, published_vae_config(), _published_text_config(), image_size=256,
                               fast_steps=FAST_PRESET_STEPS),
    }


def generation_size(name: str) -> GenerationSize:
    """The `GenerationSize` called ``name``.

    Raises:
        ValueError: For an unknown size.
    """
    sizes = _sizes()
    if name not in sizes:
        raise ValueError(f"unknown generation benchmark size {name!r}; choose one of {', '.join(sizes)}")
    return sizes[name]


@dataclass(frozen=True)
class Variant:
    """A measured path: speed options and, for the fast preset, fewer steps.

    Attributes:
        name: The row's ``variant``.
        options: `handi.pipeline.SpeedOptions` keyword arguments.
        fast_steps: Use the size's ``fast_steps`` instead of its ``steps``.
        cuda_only: Skipped (and said so) off CUDA.
        compiled: Runs `torch.compile`; skipped at the ``tiny`` size (compilation alone
            would take longer than the test).
        about: One line on what it changes.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    fast_steps: bool = False
    cuda_only: bool = False
    compiled: bool = False
    about: str = ""


_CPU_OPTIMIZED = dict(channels_last=True, sync_free=True)
_CUDA_OPTIMIZED = dict(dtype="bfloat16", channels_last=True, sync_free=True)


def variants(device: str) -> list[Variant]:
    """The variants measured on ``device`` (``cpu`` or ``cuda``), reference first.

    ``optimized`` is what pays on that device: bf16 only on CUDA (a CPU without bf16
    matrix units runs it slower; the ``bf16`` row measures that), compilation only in
    the ``compile`` / ``cuda-graphs`` rows, whose one-off cost is reported apart.
    """
    optimized = _CUDA_OPTIMIZED if device == "cuda" else _CPU_OPTIMIZED
    return [
        Variant("reference", about="the pipeline's defaults: CFG batched, SDPA attention, float32"),
        Variant("sequential-cfg", {"cfg": "sequential"}, about="two UNet calls per step (what batched CFG saves)"),
        Variant("math-attention", {"attention": "math"}, about="explicit softmax(QK^T)V attention (what SDPA saves)"),
        Variant("bf16", {"dtype": "bfloat16"}, about="bf16 UNets and VAE, float32 solver state"),
        Variant("flash-attention", {"dtype": "bfloat16", "attention": "flash"}, cuda_only=True, about="bf16 with SDPA restricted to flash attention"),
        Variant("channels-last", {"channels_last": True}, about="channels-last convolution weights"),
        Variant("sync-free", {"sync_free": True}, about="scheduler told its first step: no host-device sync in the loop"),
        Variant("optimized", optimized, about="the combination that pays on this device"),
        Variant("compile", {**optimized, "compile": "default"}, compiled=True, about="optimized + torch.compile of both UNets"),
        Variant("cuda-graphs", {**optimized, "compile": "reduce-overhead"}, cuda_only=True, compiled=True,
                about="optimized + torch.compile with CUDA graphs"),
        Variant("fast-preset", optimized, fast_steps=True, about="optimized, fewer solver steps (quality cost measured on the demo split)"),
    ]


# -- building the networks ------------------------------------------------------


def build_pipeline(size: GenerationSize, stage1: bool, device: str = "cpu", seed: int = 0) -> Any:
    """A `HandiPipeline` of random, seeded networks at ``size`` on ``device``.

    Args:
        size: The benchmark size.
        stage1: Include the stage-1 mask UNet (HANDI) or not (AnimateAnything).
        device: ``cpu``, ``cuda`` or ``meta`` (shapes only, for counting FLOPs).
        seed: Seeds the weights (the same seed gives every variant the same networks).
    """
    import torch
    from diffusers import DPMSolverMultistepScheduler
    from transformers import CLIPTextConfig, CLIPTextModel

    from handi.models.tiny import scheduler_config
    from handi.models.unet import HandiUNet3DConditionModel
    from handi.models.vae import build_vae
    from handi.pipeline import HandiPipeline
    from handi.text import clip_bpe_tokenizer

    torch.manual_seed(seed)
    # Built on the device itself: initializing 1.4 B parameters on a CPU takes a minute.
    with torch.device(device):
        vae = build_vae(size.vae).eval()
        text_encoder = CLIPTextModel(CLIPTextConfig(**size.text)).eval()
        unet = HandiUNet3DConditionModel(**size.unet).eval()
        # Stage 1 predicts masks: no motion strength input (as `handi.models.tiny`).
        mask_unet = HandiUNet3DConditionModel(**{**size.unet, "motion_strength": False}).eval() if stage1 else None
    pipe = HandiPipeline(vae=vae, text_encoder=text_encoder, tokenizer=clip_bpe_tokenizer(),
                         scheduler=DPMSolverMultistepScheduler(**scheduler_config()), unet=unet, mask_unet=mask_unet)
    pipe.prior_mask = _prior_mask(size.image_size)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _prior_mask(side: int) -> np.ndarray:
    """A centred elliptical prior in [0, 1], like the real one (hands act in the lower middle)."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    return np.clip(1.0 - ((xx - 0.5) / 0.4) ** 2 - ((yy - 0.6) / 0.35) ** 2, 0.0, 1.0).astype(np.float32)


def context_image(side: int, seed: int = 0) -> np.ndarray:
    """A deterministic uint8 ``[1, side, side, 3]`` context frame (smooth colours plus noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    base = np.stack([xx, yy, 1 - xx * yy], axis=-1) * 200 + rng.normal(0, 12, (side, side, 3))
    return np.clip(base, 0, 255).astype(np.uint8)[None]


# -- counting FLOPs -------------------------------------------------------------


def clip_flops(size: GenerationSize, stage1: bool, steps: int | None = None) -> dict[str, float]:
    """Model FLOPs of one clip through ``HandiPipeline`` (batch 1), from `network_call_flops`.

    A clip makes: 2 text-encoder calls (prompt, empty prompt), 1 VAE encode (the context),
    per stage ``steps`` UNet calls on the guidance batch of 2 and 1 VAE decode of L frames.

    Args:
        size: The benchmark size.
        stage1: Count stage 1 (HANDI) too, or only stage 2 (AnimateAnything).
        steps: Solver steps per stage (default: the size's).

    Returns:
        ``{"text", "vae_encode", "unet_stage1", "unet_stage2", "vae_decode", "total"}``; the
        UNet entries cover all steps of their stage.
    """
    steps = size.steps if steps is None else steps
    calls = network_call_flops(size.name)
    stages = 2 if stage1 else 1
    parts = {"text": 2 * calls["text"], "vae_encode": calls["vae_encode"],
             "unet_stage1": steps * calls["unet_stage1"] if stage1 else 0.0, "unet_stage2": steps * calls["unet_stage2"],
             "vae_decode": stages * calls["vae_decode"]}
    parts["total"] = sum(parts.values())
    return parts


@functools.lru_cache(maxsize=None)
def network_call_flops(size_name: str) -> dict[str, float]:
    """FLOPs of each network call a clip makes at size ``size_name``, counted once on the meta device.

    Returns:
        ``text`` (one prompt), ``vae_encode`` (one frame), ``vae_decode`` (the L frames of
        one clip), ``unet_stage1`` / ``unet_stage2`` (one call on the guidance batch of 2).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    size = generation_size(size_name)
    pipe = build_pipeline(size, stage1=True, device="meta")
    h, rows = size.image_size // 8, 2 if size.guidance > 1 else 1

    def count(call: Any) -> float:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            call()
        return float(counter.get_total_flops())

    meta = dict(device="meta")
    tokens = torch.zeros(1, pipe.tokenizer.model_max_length, dtype=torch.long, **meta)
    latents = torch.zeros(rows, 4, size.frames, h, h, **meta)
    states = torch.zeros(rows, pipe.tokenizer.model_max_length, size.text["hidden_size"], **meta)
    context, mask = torch.zeros(rows, 4, 1, h, h, **meta), torch.zeros(rows, 1, 1, h, h, **meta)
    timestep, motion = torch.zeros((), **meta), torch.zeros(rows, **meta)
    return {
        "text": count(lambda: pipe.text_encoder(input_ids=tokens)),
        "vae_encode": count(lambda: pipe.vae.encode(torch.zeros(1, 3, size.image_size, size.image_size, **meta))),
        "vae_decode": count(lambda: pipe.vae.decode(torch.zeros(size.frames, 4, h, h, **meta))),
        "unet_stage1": count(lambda: pipe.mask_unet(latents, timestep, encoder_hidden_states=states, condition_latent=context, mask=mask)),
        "unet_stage2": count(lambda: pipe.unet(latents, timestep, encoder_hidden_states=states, condition_latent=context, mask=mask,
                                               motion=motion)),
    }


# -- timing ---------------------------------------------------------------------


@dataclass
class _Case:
    """One (model, variant) being measured: its pipeline and what came out."""

    model: str
    variant: Variant
    steps: int
    pipe: Any = None
    cold_s: float = 0.0
    times: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    latents: Any = None
    skipped: str | None = None


def _generate(pipe: Any, size: GenerationSize, model: str, steps: int) -> Any:
    import torch

    return pipe(context_image(size.image_size), PROMPT, num_frames=size.frames, mask="stage1" if model == "handi" else "none",
                num_inference_steps=steps, guidance_scale=size.guidance, motion_strength=size.motion,
                size=(size.image_size, size.image_size), generator=[torch.Generator().manual_seed(0)])


def _timed(case: _Case, size: GenerationSize) -> float:
    with DeviceTimer() as timer:
        out = _generate(case.pipe, size, case.model, case.steps)
    seconds = timer.synchronized_s if timer.synchronized_s is not None else timer.wall_s
    if timer.peak_device_bytes is not None:
        case.peaks.append(timer.peak_device_bytes)
    if case.latents is None:
        case.latents = out.latents
    return seconds


def _prepare(case: _Case, size: GenerationSize, device: str) -> None:
    from handi.pipeline import SpeedOptions

    pipe = build_pipeline(size, stage1=case.model == "handi", device=device)
    case.pipe = pipe.enable_speed(SpeedOptions(**case.variant.options))
    # The first call pays compilation, kernel selection and allocator growth; it is
    # timed apart and never counted in the steady state.
    case.cold_s = _timed(case, size)


def _release(case: _Case) -> None:
    case.pipe = None
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure(size: str, device: str, repeats: int, *, models: tuple[str, ...] = ("handi", "animate-anything"),
            only_variants: tuple[str, ...] | None = None, steps: int | None = None) -> list[dict[str, Any]]:
    """Time HANDI and AnimateAnything per clip under every speed variant.

    Args:
        size: ``tiny``, ``reduced`` or ``full`` (`generation_size`).
        device: ``cpu`` or ``cuda``.
        repeats: Timed clips per variant after the untimed-for-steady-state first one;
            the fastest is reported (the least disturbed by other work on the machine).
        models: ``handi`` (stage 1 + stage 2) and/or ``animate-anything`` (stage 2 only).
            AnimateAnything is measured under ``reference`` and ``optimized`` only.
        only_variants: Restrict to these variant names (the reference is always measured).
        steps: Solver steps per stage instead of the size's 25 (a quicker CPU run: every
            option but the fast preset acts per step, so its speed-up does not depend on
            the step count); the fast preset then runs ``steps * fast_steps / 25`` steps.

    Returns:
        Rows of the `benchmark.speed.report.SpeedRow` schema, one per (model, variant)
        measured; variants that cannot run here (CUDA-only ones on a CPU, compilation at
        the tiny size) are left out and logged, and their names are listed in every
        row's ``settings["skipped_variants"]``.

    Raises:
        ValueError: Unknown size, device or variant; ``cuda`` without a CUDA device.
    """
    import torch

    from handi.pipeline import SpeedOptions

    spec = generation_size(size)
    if steps is not None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1; got {steps}")
        spec = dataclasses.replace(spec, steps=steps, fast_steps=max(1, round(steps * spec.fast_steps / spec.steps)))
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA device (torch.cuda.is_available() is False); use --device cpu")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    known = variants(device)
    if only_variants is not None:
        unknown = sorted(set(only_variants) - {v.name for v in variants("cuda")})
        if unknown:
            raise ValueError(f"unknown generation variants {unknown}; known: {', '.join(v.name for v in variants('cuda'))}")
        known = [v for v in known if v.name == "reference" or v.name in only_variants]
    device_name = torch.cuda.get_device_name() if device == "cuda" else None

    cases: list[_Case] = []
    skipped: dict[str, str] = {}
    for model in models:
        for variant in known:
            if model == "animate-anything" and variant.name not in ("reference", "optimized"):
                continue
            if variant.cuda_only and device != "cuda":
                skipped[variant.name] = "CUDA only"
                continue
            if variant.compiled and size == "tiny":
                skipped[variant.name] = "compilation is not measured at the tiny size"
                continue
            steps = spec.fast_steps if variant.fast_steps else spec.steps
            cases.append(_Case(model, variant, steps))
    for name, why in skipped.items():
        logger.info("generation variant %s skipped: %s", name, why)

    # On a CPU all pipelines fit at once, so the repeats are interleaved across variants:
    # a burst of load from other processes then slows every variant alike. On a GPU the
    # published pipelines are measured one at a time (two 1.4 B UNets each).
    interleave = device == "cpu"
    for case in cases:
        _prepare(case, spec, device)
        if not interleave:
            case.times = [_timed(case, spec) for _ in range(repeats)]
            _release(case)
    if interleave:
        for _ in range(repeats):
            for case in cases:
                case.times.append(_timed(case, spec))
        for case in cases:
            _release(case)

    rows = []
    environment = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    for model in models:
        mine = [c for c in cases if c.model == model]
        if not mine:
            continue
        reference = next(c for c in mine if c.variant.name == "reference")
        ref_s = min(reference.times)
        for case in mine:
            flops = clip_flops(spec, stage1=model == "handi", steps=case.steps)
            steady = min(case.times)
            diff = (case.latents - reference.latents).abs()
            settings = {
                **spec.describe(), "steps": case.steps, "stages": 2 if model == "handi" else 1, "batch": 1,
                "device": device, "device_name": device_name, **environment, "repeats": repeats,
                "speed_options": SpeedOptions(**case.variant.options).describe(), "about": case.variant.about,
                "cold_seconds": case.cold_s, "all_seconds": case.times,
                "latent_max_abs_diff_vs_reference": float(diff.max()),
                "latent_relative_l2_vs_reference": float(diff.norm() / reference.latents.norm().clamp_min(1e-12)),
                "flops_breakdown": flops, "skipped_variants": skipped,
            }
            rows.append(make_row(
                SECTION, model, case.variant.name, steady, peak_memory_bytes=max(case.peaks) if case.peaks else None,
                flops_per_clip=flops["total"], reference_seconds=ref_s,
                compile_seconds=max(0.0, case.cold_s - steady) if case.variant.compiled else None,
                device_name=device_name, settings=settings,
            ))
    return rows
