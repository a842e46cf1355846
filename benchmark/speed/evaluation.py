"""How fast the metric suite scores a clip: each backbone, then the whole suite, both scopes.

`measure` times every backbone the suite runs (CLIP ViT-L/14, the BLIP-large and
BLIP-base captioners with EgoVLP's text head, EgoVLP, Inception-v3, I3D, the MediaPipe
hand landmarker) and the whole suite through the real `benchmark.scoring.Scorer`, each
in its reference path and in the fast ones, on the same clips in the same process, so
the ratios compare like with like:

``reference``
    One clip per extractor call, float32: each forward pass sees one clip's frames.
``batched``
    All clips in one call: frames of several clips fill each forward pass (the default
    path since issue 16).
``bf16``
    ``batched`` under bf16 autocast. On CUDA this is the default of the similarity
    backbones (CLIP, BLIP, EgoVLP). The Fréchet backbones (Inception, I3D) stay float32:
    their row says the features' relative difference (``settings["parity"]``), and they
    would switch only below 1e-3 (`BF16_FRECHET_LIMIT`), which random full-size weights
    are nowhere near (see the rows).
``workers-N``
    Hand detection in N CPU processes (`HandKeypointsExtractor` ``workers``), keypoints
    equal to the serial path's.

The suite rows score every metric whose backbone is measured, at both scopes, like a
run's batch: ``reference`` (each backbone one clip at a time in float32, serial hand
detection, the ground truth embedded even for metrics that never read it), ``fast``
(the defaults plus hand workers) for an adapter whose ground-truth features are not
cached yet, and ``fast, ground truth cached`` for every further adapter of the split.

Sizes: ``full`` builds the published architectures with random weights (speed does not
depend on the weights); ``reduced`` shrinks the transformers (widths and depths; the
Inception and I3D networks have no smaller variant and stay full) so all of it runs in
minutes on two CPU cores; ``tiny`` is the test size (the backbones' ``for_tests``).
On CPU the numbers to read are the ratios; on a GPU, the absolute times.

Each row: ``{"section": "evaluation", "name", "variant", "seconds_per_clip",
"clips_per_second", "peak_memory_bytes", "flops_per_clip", "peak_flops_fraction",
"ratio_vs_reference", "compile_seconds", "settings"}``. ``ratio_vs_reference`` is the
reference's seconds over the row's (above 1: faster). FLOPs are counted by
``torch.utils.flop_counter.FlopCounterMode`` on one clip (None for MediaPipe, which is
not torch); ``peak_flops_fraction`` divides the achieved FLOP/s by the device's dense
peak for the row's precision (None on CPU or an unlisted GPU). Peak memory is
``torch.cuda.max_memory_allocated`` on CUDA and, on CPU, the resident set's growth
over the call (sampled every 5 ms from ``/proc/self/statm``; None where that file is
missing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from benchmark.device_timer import DeviceTimer
from benchmark.feature_cache import FeatureCache
from benchmark.scoring import Scorer
from hcvg.registry import Registry
from hcvg.sample import Sample
from metrics.base import Metric
from metrics.features.base import FeatureExtractor
from metrics.registry import METRICS

logger = logging.getLogger(__name__)

SECTION = "evaluation"
SIZES = ("full", "reduced", "tiny")
#: What `measure` can time, in order; "suite" scores with the others that are measured.
BACKBONES = ("clip", "blip-large", "blip-base", "egovlp", "inception", "i3d", "hands", "suite")
#: bf16 replaces float32 in a Fréchet backbone only below this relative feature difference.
BF16_FRECHET_LIMIT = 1e-3

@dataclass(frozen=True)
class SizeSettings:
    """Clips per measurement for one size (the batch that the fast paths fill)."""

    clips: int
    frames: int  # per clip; I3D takes at least 9


SIZE_SETTINGS = {
    "full": SizeSettings(clips=8, frames=15),
    "reduced": SizeSettings(clips=2, frames=15),
    "tiny": SizeSettings(clips=2, frames=9),
}


def measure(size: str = "reduced", device: str = "cpu", repeats: int = 1, only: Sequence[str] | None = None,
            hand_workers: int = 2, metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Time the evaluation backbones and the suite per clip (see the module docstring).

    Args:
        size: "full", "reduced" or "tiny".
        device: Torch device of the backbones ("cpu", "cuda", "cuda:1").
        repeats: Timed calls per variant after one warm-up call on one clip; the median counts.
        only: Names from `BACKBONES` to measure (None: all).
        hand_workers: Worker processes of the ``workers-N`` hand-detection variant.
        metrics: The suite's metrics (None: every registered one whose backbones are
            measured, see `suite_metrics`).

    Returns:
        One row per backbone and variant, then the suite's rows.

    Raises:
        ValueError: On an unknown size or backbone name, or ``repeats < 1``.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    unknown = sorted(set(only or ()) - set(BACKBONES))
    if unknown:
        raise ValueError(f"unknown backbone(s) {unknown}; choose from {', '.join(BACKBONES)}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    chosen = [b for b in BACKBONES if only is None or b in only]
    setting = SIZE_SETTINGS[size]
    samples = demo_samples(setting.clips, setting.frames)
    clips = [s.target for s in samples]
    built = build_extractors(size, device, [b for b in chosen if b != "suite"], hand_workers)
    rows: list[dict[str, Any]] = []
    for backbone in chosen:
        if backbone == "suite":
            rows += _suite_rows(built, samples, size, device, repeats, metrics)
        elif backbone == "hands":
            rows += _hand_rows(built["hand-keypoints"], built["hand-keypoints-workers"], clips, repeats, size)
        else:
            rows += _backbone_rows(backbone, built, clips, size, device, repeats)
        for row in rows:
            if row["name"] == backbone:
                logger.info("%s %s: %.4f s/clip, x%.2f vs reference", backbone, row["variant"], row["seconds_per_clip"],
                            row["ratio_vs_reference"])
    return rows


# -- the clips ---------------------------------------------------------------------------


def demo_samples(count: int, frames: int) -> list[Sample]:
    """``count`` demo-split samples (drawn hands, GT motion areas) cut to ``frames`` target frames."""
    from dataclasses import replace

    from benchmark.splits import load_split

    split = load_split("demo", num_samples=count)
    samples = [split.get(i) for i in list(split.ids())[:count]]
    return [replace(s, target=s.target[:frames], keypoints=None if s.keypoints is None else s.keypoints[: frames + 1])
            for s in samples]


def generated_from(sample: Sample, seed: int) -> np.ndarray:
    """A stand-in generated clip: the target reversed in time plus noise (hands stay in view)."""
    rng = np.random.default_rng(seed)
    noisy = sample.target[::-1].astype(np.int16) + rng.integers(-12, 13, sample.target.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


# -- the backbones -----------------------------------------------------------------------


def build_extractors(size: str, device: str, backbones: Sequence[str], hand_workers: int = 2) -> dict[str, FeatureExtractor]:
    """The extractors of ``backbones`` at ``size``, keyed by registered extractor name.

    The BLIP extractors and ``egovlp-text`` share one EgoVLP backbone, as the registered
    ones share the process-wide pretrained one.
    """
    from metrics.features.blip import BlipBaseCaptionsExtractor, BlipLargeCaptionsExtractor
    from metrics.features.clip import ClipImageExtractor, ClipTextExtractor
    from metrics.features.egovlp import EgoVLPTextExtractor, EgoVLPVideoExtractor

    out: dict[str, FeatureExtractor] = {}
    needs_egovlp = {"egovlp", "blip-large", "blip-base"} & set(backbones)
    egovlp = _egovlp_backbone(size, device) if needs_egovlp else None
    if egovlp is not None:
        out["egovlp-text"] = EgoVLPTextExtractor(egovlp)
    if "egovlp" in backbones:
        out["egovlp"] = EgoVLPVideoExtractor(egovlp)
    if "clip" in backbones:
        clip = _clip_backbone(size, device)
        out["clip"], out["clip-text"] = ClipImageExtractor(clip), ClipTextExtractor(clip)
    if "blip-large" in backbones:
        out["blip-large-captions"] = BlipLargeCaptionsExtractor(_blip_captioner(size, "large", device), egovlp)
    if "blip-base" in backbones:
        out["blip-base-captions"] = BlipBaseCaptionsExtractor(_blip_captioner(size, "base", device), egovlp)
    if "inception" in backbones:
        from metrics.features.inception import InceptionPool3Extractor

        out["inception-pool3"] = InceptionPool3Extractor.from_config(device=device)
    if "i3d" in backbones:
        from metrics.features.i3d import I3DLogitsExtractor

        out["i3d-logits"] = I3DLogitsExtractor.from_config(num_frames=None, device=device)
    if "hands" in backbones:
        from metrics.features.hand_keypoints import HandKeypointsExtractor

        out["hand-keypoints"] = HandKeypointsExtractor()
        out["hand-keypoints-workers"] = HandKeypointsExtractor(workers=hand_workers)
    return out


def _clip_backbone(size: str, device: str) -> Any:
    from transformers import CLIPConfig

    from metrics.features.clip import ClipBackbone, tiny_clip_config, tiny_clip_tokenizer

    if size == "tiny":
        return ClipBackbone.from_config(tiny_clip_config(), device=device)
    ids = dict(bos_token_id=512, eos_token_id=513, pad_token_id=513, max_position_embeddings=77, hidden_act="quick_gelu")
    if size == "full":  # openai/clip-vit-large-patch14
        text = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, **ids)
        vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16)
        projection = 768
    else:  # the same tokens (224 px, 14 px patches: 257 per frame), a quarter of the width, 4 layers
        text = dict(vocab_size=514, hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4, **ids)
        vision = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4)
        projection = 256
    vision.update(image_size=224, patch_size=14, hidden_act="quick_gelu")
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection)
    return ClipBackbone.from_config(config, tiny_clip_tokenizer(), device=device)


def _egovlp_backbone(size: str, device: str) -> Any:
    from metrics.features.egovlp import EgoVLPBackbone, tiny_egovlp_config, tiny_wordpiece_vocab

    if size == "tiny":
        return EgoVLPBackbone.from_config(tiny_egovlp_config(num_frames=16), device=device)
    if size == "full":  # epic_mir_plus: ViT-B/16 over 16 frames, distilbert-base-uncased
        return EgoVLPBackbone.from_config(dict(num_frames=16), device=device)
    text = dict(vocab_size=len(tiny_wordpiece_vocab()), dim=192, n_layers=2, n_heads=4, hidden_dim=768)
    return EgoVLPBackbone.from_config(
        dict(num_frames=16, embed_dim=192, depth=2, num_heads=4, text_config=text), device=device
    )


def _blip_captioner(size: str, which: str, device: str) -> Any:
    from transformers import BlipConfig

    from metrics.features.blip import BlipCaptioner, tiny_blip_config, tiny_blip_tokenizer

    if size == "tiny":
        return BlipCaptioner.from_config(tiny_blip_config(), device=device)
    tokenizer = tiny_blip_tokenizer()
    ids = dict(bos_token_id=tokenizer.convert_tokens_to_ids("[DEC]"), pad_token_id=tokenizer.pad_token_id,
               sep_token_id=tokenizer.sep_token_id, eos_token_id=tokenizer.sep_token_id)
    if size == "full":  # Salesforce/blip-image-captioning-{large,base}
        width, depth, heads = {"large": (1024, 24, 16), "base": (768, 12, 12)}[which]
        text = dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
    else:  # 384 px, 16 px patches (577 tokens a frame) as published; narrow and shallow
        width, depth, heads = {"large": (256, 4, 4), "base": (192, 2, 4)}[which]
        text = dict(vocab_size=len(tokenizer), hidden_size=192, intermediate_size=768, num_hidden_layers=2, num_attention_heads=4)
    text.update(encoder_hidden_size=width, max_position_embeddings=512, **ids)
    vision = dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=depth, num_attention_heads=heads,
                  image_size=384, patch_size=16)
    return BlipCaptioner.from_config(BlipConfig(text_config=text, vision_config=vision), tokenizer, device=device)


#: Backbone name in `BACKBONES` → extractor names it covers (the first is the one timed).
EXTRACTORS = {
    "clip": ("clip", "clip-text"),
    "blip-large": ("blip-large-captions",),
    "blip-base": ("blip-base-captions",),
    "egovlp": ("egovlp", "egovlp-text"),
    "inception": ("inception-pool3",),
    "i3d": ("i3d-logits",),
    "hands": ("hand-keypoints",),
}
#: Backbones whose features feed Fréchet distances: float32 unless bf16 is shown equal.
FRECHET_BACKBONES = ("inception", "i3d")


def _backbone_rows(backbone: str, built: dict[str, FeatureExtractor], clips: list[np.ndarray], size: str, device: str,
                   repeats: int) -> list[dict[str, Any]]:
    extractor = built[EXTRACTORS[backbone][0]]
    variants: dict[str, Callable[[list[np.ndarray]], list[np.ndarray]]] = {
        "reference": lambda batch: [extractor.extract([clip])[0] for clip in batch],
        "batched": extractor.extract,
    }
    variants["bf16"] = extractor.extract  # on a CPU without bf16 kernels, for its parity only
    flops = count_flops(lambda: extractor.extract(clips[:1]))
    rows, reference = [], None
    for variant, run in variants.items():
        precision = "bf16" if variant == "bf16" else "fp32"
        with _precision(precision, device):
            seconds, peak, outputs = time_per_clip(run, clips, repeats, device)
        if reference is None:
            reference = (seconds, outputs)
        settings = {
            "size": size, "device": device, "clips": len(clips), "frames": len(clips[0]), "precision": precision,
            "threads": torch.get_num_threads(), "extractor": extractor.name,
            "parity": _parity(reference[1], outputs),
        }
        if variant == "bf16" and torch.device(device).type == "cpu" and not _cpu_has_bf16():
            settings["note"] = "this CPU has no bf16 kernels (AVX512-BF16 / AMX): bf16 is emulated, its time is not representative"
        if backbone in FRECHET_BACKBONES and variant == "bf16":
            difference = settings["parity"]["max_relative_difference"]
            settings["verdict"] = (
                f"kept float32: bf16 features differ by {difference:.2e} relative (limit {BF16_FRECHET_LIMIT:g})"
                if difference >= BF16_FRECHET_LIMIT else f"bf16 within {BF16_FRECHET_LIMIT:g} relative ({difference:.2e})"
            )
        rows.append(_row(backbone, variant, seconds, peak, flops, reference[0], precision, device, settings))
    return rows


def _hand_rows(serial: FeatureExtractor, parallel: FeatureExtractor, clips: list[np.ndarray], repeats: int,
               size: str) -> list[dict[str, Any]]:
    parallel.extract(clips[:1])  # starts the worker processes, not charged to the timing
    rows, reference = [], None
    for variant, extractor in (("reference", serial), (f"workers-{parallel.workers}", parallel)):
        seconds, peak, outputs = time_per_clip(extractor.extract, clips, repeats, "cpu")
        if reference is None:
            reference = (seconds, outputs)
        equal = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(reference[1], outputs))
        settings = {"size": size, "device": "cpu (MediaPipe)", "clips": len(clips), "frames": len(clips[0]),
                    "workers": getattr(extractor, "workers", 0), "cpu_count": os.cpu_count(),
                    "parity": {"equal": equal}}
        rows.append(_row("hands", variant, seconds, peak, None, reference[0], "fp32", "cpu", settings))
    return rows


# -- the suite -----------------------------------------------------------------------------


class OneClipAtATime(FeatureExtractor):
    """An extractor called one clip (or one text) per call: the reference path of the suite.

    Args:
        inner: The extractor wrapped; its config, weights and fingerprint are used as they are.
    """

    def __init__(self, inner: FeatureExtractor):
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # an instance takes the wrapped one's names
        self.kind = inner.kind  # type: ignore[misc]

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def weights_digest(self) -> str:
        return self.inner.weights_digest()

    def extract(self, videos: list[np.ndarray]) -> list[np.ndarray]:
        return [self.inner.extract([video])[0] for video in videos]

    def extract_text(self, texts: list[str]) -> np.ndarray:
        return np.concatenate([self.inner.extract_text([text]) for text in texts])


def suite_metrics(extractors: dict[str, FeatureExtractor], names: Sequence[str] | None = None) -> list[Metric]:
    """The suite's metrics: ``names``, or every registered one whose features are all among ``extractors``.

    ``egovlp-ego4d`` is left out of the default: a split scores with one EgoVLP
    checkpoint (EPIC's here).

    Raises:
        ValueError: If a metric named in ``names`` reads a feature that is not measured.
    """
    metrics = []
    for name in names if names is not None else METRICS.names():
        metric = METRICS.create(name)
        missing = [f for f in metric.features if f not in extractors]
        if names is not None and missing:
            raise ValueError(f"suite metric {name!r} reads {missing}, whose backbone is not measured; add it to only=")
        if (names is not None or name != "egovlp-ego4d") and not missing:
            metrics.append(metric)
    return metrics


def _suite_rows(built: dict[str, FeatureExtractor], samples: list[Sample], size: str, device: str,
                repeats: int, metric_names: Sequence[str] | None) -> list[dict[str, Any]]:
    serial = {n: e for n, e in built.items() if n != "hand-keypoints-workers"}
    fast = dict(serial)
    if "hand-keypoints-workers" in built:
        fast["hand-keypoints"] = built["hand-keypoints-workers"]
    reference = {n: OneClipAtATime(e) for n, e in serial.items()}
    settings = {"size": size, "device": device, "clips": len(samples), "frames": len(samples[0].target),
                "scopes": ["full", "ma"], "metrics": [m.name for m in suite_metrics(fast, metric_names)],
                "threads": torch.get_num_threads(), "hand_workers": getattr(fast.get("hand-keypoints"), "workers", None),
                "not_timed": "the Fréchet distances of FID and FVD (once per split and scope, not per clip)"}
    rows, reference_seconds = [], None
    cases = (("reference", reference, True, False), ("fast", fast, False, False),
             ("fast, ground truth cached", fast, False, True))
    for variant, extractors, reference_path, cached in cases:
        run = SuiteRun(extractors, reference_path, cached, metric_names)
        with _precision("fp32" if reference_path else "default", device):
            seconds, peak, outputs = time_per_clip(run, samples, repeats, device, seconds_of=lambda: run.seconds)
            run.count_flops = True
            run(samples[:1])
            run.count_flops, flops = False, run.flops
        if reference_seconds is None:
            reference_seconds = seconds
        cells = sum(len(rows_of) for rows_of in outputs) / len(samples)
        rows.append(_row("suite", variant, seconds, peak, flops, reference_seconds, "default", device,
                         {**settings, "sample_metric_cells_per_clip": cells}))
    return rows


class SuiteRun:
    """Scores a batch of samples with every metric at both scopes, as a run's batch; times `Scorer.score`.

    Args:
        extractors: Extractor name → the instance to score with.
        reference_path: Embed the ground truth for every metric (also for `Metric.generated_only`).
        cached_ground_truth: Score another adapter first (untimed), so the timed one reads the
            ground truth's features from the cache, as every adapter after a split's first does.
        metrics: Metric names (None: `suite_metrics`' default).
    """

    def __init__(self, extractors: dict[str, FeatureExtractor], reference_path: bool, cached_ground_truth: bool,
                 metrics: Sequence[str] | None = None):
        self.extractors = extractors
        self.metric_names = metrics
        self.reference_path = reference_path
        self.cached_ground_truth = cached_ground_truth
        self.seconds = 0.0
        self.count_flops = False  # count the timed call's FLOPs (into `flops`) instead of timing it alone
        self.flops: int | None = None

    def scorer(self, cache: FeatureCache) -> Scorer:
        registry: Registry = Registry("feature extractor")
        for name, extractor in self.extractors.items():
            registry.register(name, lambda e=extractor: e)
        metrics = suite_metrics(self.extractors, self.metric_names)
        if self.reference_path:
            for metric in metrics:
                metric.generated_only = ()  # type: ignore[misc]
        scorer = Scorer(metrics, ["full", "ma"], registry, cache)
        dropped = scorer.drop_unavailable()
        if dropped:
            raise RuntimeError(f"suite: metrics without their extractor: {dropped}")
        return scorer

    def __call__(self, samples: list[Sample]) -> list[list[dict[str, Any]]]:
        videos = {s.id: generated_from(s, 0) for s in samples}
        with tempfile.TemporaryDirectory() as folder:
            cache = FeatureCache(folder)
            if self.cached_ground_truth:
                self.scorer(cache).score(samples, videos, "first-adapter", "demo", 0)
            scorer = self.scorer(cache)
            counting = contextlib.nullcontext()
            if self.count_flops:
                from torch.utils.flop_counter import FlopCounterMode

                counting = FlopCounterMode(display=False)
            with counting, DeviceTimer() as timer:
                result = scorer.score(samples, videos, "timed-adapter", "demo", 0)
            if self.count_flops:
                self.flops = int(counting.get_total_flops())
        self.seconds = timer.synchronized_s or timer.wall_s
        if result.errors:
            raise RuntimeError(f"suite: {len(result.errors)} cells failed, e.g. {result.errors[0]}")
        return [result.rows[s.id] for s in samples]


# -- timing ----------------------------------------------------------------------------------


def time_per_clip(run: Callable[[list[Any]], Any], clips: list[Any], repeats: int, device: str,
                  seconds_of: Callable[[], float] | None = None) -> tuple[float, int | None, Any]:
    """Median seconds per clip of ``run(clips)`` over ``repeats`` calls, after a warm-up on one clip.

    Args:
        run: Processes a list of clips (or of samples).
        clips: The batch.
        repeats: Timed calls.
        device: Where the work runs (CUDA work is synchronized before the clock stops).
        seconds_of: Reads the seconds the last call measured itself (excluding its set-up);
            None uses the whole call's time.

    Returns:
        (seconds per clip, peak memory bytes or None, the last call's output).
    """
    run(clips[:1])
    times, peaks, output = [], [], None
    for _ in range(repeats):
        with _peak_memory(device) as peak, DeviceTimer() as timer:
            output = run(clips)
        seconds = seconds_of() if seconds_of is not None else (timer.synchronized_s or timer.wall_s)
        times.append(seconds / len(clips))
        peaks.append(timer.peak_device_bytes if timer.peak_device_bytes is not None else peak.get("bytes"))
    known = [p for p in peaks if p is not None]
    return statistics.median(times), (max(known) if known else None), output


def count_flops(call: Callable[[], Any]) -> int:
    """FLOPs of ``call()`` counted by ``torch.utils.flop_counter.FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        call()
    return int(counter.get_total_flops())


def peak_flops(device: str, precision: str) -> float | None:
    """The device's dense peak FLOP/s in ``precision`` ("bf16" or "fp32"), None on CPU or an unlisted GPU.

    float32 matmuls run on TF32 tensor cores when PyTorch allows it, so that peak is used then.
    """
    if torch.device(device).type != "cuda":
        return None
    from benchmark.speed.report import device_peak

    name = torch.cuda.get_device_name(torch.device(device))
    peak = device_peak(name)
    if peak is None:
        logger.warning("no peak FLOP/s listed for %s; peak_flops_fraction is None (add it to benchmark.speed.report.DEVICE_PEAKS)", name)
        return None
    if precision == "bf16":
        return peak.bf16_dense_flops
    return peak.tf32_dense_flops if torch.backends.cuda.matmul.allow_tf32 else peak.fp32_flops


def _row(name: str, variant: str, seconds: float, peak: int | None, flops: int | None, reference_seconds: float,
         precision: str, device: str, settings: dict[str, Any]) -> dict[str, Any]:
    peak_rate = peak_flops(device, "bf16" if precision == "bf16" else "fp32")
    return {
        "section": SECTION,
        "name": name,
        "variant": variant,
        "seconds_per_clip": seconds,
        "clips_per_second": 1.0 / seconds if seconds > 0 else float("inf"),
        "peak_memory_bytes": peak,
        "flops_per_clip": flops,
        "peak_flops_fraction": (flops / seconds / peak_rate) if flops and peak_rate and seconds > 0 else None,
        "ratio_vs_reference": reference_seconds / seconds if seconds > 0 else float("inf"),
        "compile_seconds": None,
        "settings": settings,
    }


def _parity(reference: list[Any], outputs: list[Any]) -> dict[str, Any]:
    """The largest difference of ``outputs`` from ``reference``, relative to the reference's largest magnitude."""
    worst_abs, scale = 0.0, 0.0
    for a, b in zip(reference, outputs):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        finite = np.isfinite(a) & np.isfinite(b)
        worst_abs = max(worst_abs, float(np.abs(a - b)[finite].max(initial=0.0)))
        scale = max(scale, float(np.abs(a[finite]).max(initial=0.0)))
    return {"max_abs_difference": worst_abs, "max_relative_difference": worst_abs / scale if scale else 0.0}


def _cpu_has_bf16() -> bool:
    """bf16 autocast on this CPU runs native kernels (AVX-512 BF16 or AMX), not emulation."""
    flags = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@contextlib.contextmanager
def _precision(precision: str, device: str) -> Iterator[None]:
    """Run a variant in "bf16" (autocast), "fp32" (``HCVG_PRECISION=fp32`` turns the extractors' own
    autocast off) or "default" (a run's choice: bf16 autocast on CUDA for CLIP, BLIP and EgoVLP)."""
    saved = os.environ.get("HCVG_PRECISION")
    if precision == "default":  # what a run does: the extractors' own choice
        os.environ.pop("HCVG_PRECISION", None)
    else:
        os.environ["HCVG_PRECISION"] = "bf16" if precision == "bf16" else "fp32"
    try:
        if precision == "bf16":
            with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        if saved is None:
            os.environ.pop("HCVG_PRECISION", None)
        else:
            os.environ["HCVG_PRECISION"] = saved


@contextlib.contextmanager
def _peak_memory(device: str) -> Iterator[dict[str, int | None]]:
    """On CPU, the resident set's growth during the block (``out["bytes"]``); CUDA uses `DeviceTimer`."""
    out: dict[str, int | None] = {"bytes": None}
    if torch.device(device).type == "cuda" or not os.path.exists("/proc/self/statm"):
        yield out
        return
    page = os.sysconf("SC_PAGE_SIZE")

    def resident() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    start, peak, stop = resident(), [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], resident())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield out
    finally:
        stop.set()
        sampler.join()
        out["bytes"] = max(0, max(peak[0], resident()) - start)
