"""The fast evaluation paths give the reference paths' outputs, within each one's stated tolerance.

Tolerances: batching clips together (CLIP, EgoVLP, BLIP's text head) and fused attention
(EgoVLP) change only float32 rounding: ``rtol=1e-5`` with ``atol=1e-6`` × the largest
magnitude, as `tests/test_feature_conformance.py` asks of any batch; BLIP's captions and
the hand keypoints from worker processes are exactly equal; bf16 autocast of a
similarity backbone moves a cosine score by less than 1e-2. Tiny real backbones with
random weights; `benchmark.speed.evaluation.measure` is run at its test size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metrics.base import ScoredItem
from metrics.registry import METRICS

TOLERANCE = dict(rtol=1e-5)


def close(batched, reference):
    for a, b in zip(batched, reference, strict=True):
        scale = np.abs(b[np.isfinite(b)]).max(initial=1.0)
        np.testing.assert_allclose(a, b, atol=1e-6 * scale, **TOLERANCE)


@pytest.fixture(scope="module")
def clips():
    from benchmark.splits import load_split

    split = load_split("demo", num_samples=3)
    targets = [split.get(i).target[:4] for i in split.ids()]
    noise = np.random.default_rng(0).integers(0, 256, targets[0].shape, dtype=np.uint8)
    return [*targets, noise]


def test_clip_embeds_clips_batched_as_one_by_one(clips):
    from metrics.features.clip import ClipBackbone, ClipImageExtractor, tiny_clip_config

    backbone = ClipBackbone.from_config(tiny_clip_config())
    backbone.batch_size = 8  # forward passes that straddle clips
    extractor = ClipImageExtractor(backbone)
    close(extractor.extract(clips), [backbone.embed_frames(clip) for clip in clips])
    assert extractor.extract([]) == []


def test_egovlp_embeds_clips_batched_as_one_by_one(clips):
    from metrics.features.egovlp import EgoVLPBackbone, EgoVLPVideoExtractor, tiny_egovlp_config

    backbone = EgoVLPBackbone.from_config(tiny_egovlp_config(num_frames=16))
    backbone.video_batch_size = 3  # forward passes of 3, 1 clips
    batched = EgoVLPVideoExtractor(backbone).extract(clips)
    assert len(batched) == len(clips)
    close(batched, [backbone.embed_video(clip) for clip in clips])


def test_egovlp_fused_attention_equals_the_softmax_formula():
    from metrics.features.egovlp import _attend

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(6, 17, 8, generator=generator) for _ in range(3))
    q = q * 8 ** -0.5
    reference = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v
    torch.testing.assert_close(_attend(q, k, v), reference, rtol=1e-5, atol=1e-6)


def test_egovlp_text_head_batches_equal_lengths_and_embeds_repeats_as_singles():
    from metrics.features.egovlp import EgoVLPBackbone, tiny_egovlp_config

    backbone = EgoVLPBackbone.from_config(tiny_egovlp_config())
    texts = ["a hand cuts the carrot", "a man", "a hand cuts the carrot", "open the cup", "pick up the knife", "a man"]
    singles = []
    for text in texts:  # LEGO's protocol: one text per call
        tokens = backbone.tokenizer([text], padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            singles.append(backbone.model.compute_text(tokens["input_ids"], tokens["attention_mask"])[0].numpy())
    batched = backbone.embed_texts(texts)
    assert batched.shape == (len(texts), backbone.model.config.projection_dim)
    close(batched, singles)
    np.testing.assert_array_equal(batched[0], batched[2])
    assert backbone.embed_texts([]).shape == (0, backbone.model.config.projection_dim)


def test_blip_captions_frames_of_all_clips_together_as_clip_by_clip(clips):
    from metrics.features.blip import BlipBaseCaptionsExtractor, BlipCaptioner, tiny_blip_config
    from metrics.features.egovlp import EgoVLPBackbone, tiny_egovlp_config

    captioner = BlipCaptioner.from_config(tiny_blip_config())
    captioner.batch_size = 8  # generate calls that straddle clips
    extractor = BlipBaseCaptionsExtractor(captioner, EgoVLPBackbone.from_config(tiny_egovlp_config()))
    clips = [clip[:3] for clip in clips[-2:]]  # a clip with drawn hands and noise: beam search is slow
    captioner.batch_size = 4
    batched = extractor.extract(clips)
    together = extractor.last_captions
    alone, alone_captions = [], []
    for clip in clips:
        alone.append(extractor.extract([clip])[0])
        alone_captions += extractor.last_captions
    assert together == alone_captions
    close(batched, alone)
    assert extractor.extract([]) == []


def test_hand_detection_in_worker_processes_equals_the_serial_path(clips, landmarker_path):
    from metrics.features.hand_keypoints import HandKeypointsExtractor

    serial = HandKeypointsExtractor(model_path=str(landmarker_path))
    parallel = HandKeypointsExtractor(model_path=str(landmarker_path), workers=2)
    try:
        assert parallel.runs_in_background and not serial.runs_in_background
        assert parallel.config() == serial.config() and parallel.fingerprint() == serial.fingerprint()
        expected = serial.extract(clips)
        assert any(np.isfinite(k).any() for k in expected), "the demo clips' drawn hands should be found"
        future = parallel.submit(clips)
        for got, want in zip(future.result(timeout=300), expected, strict=True):
            np.testing.assert_array_equal(got, want)  # NaN where missing, on both sides
    finally:
        parallel.close()
    with pytest.raises(ValueError, match="workers must be >= 0"):
        HandKeypointsExtractor(model_path=str(landmarker_path), workers=-1)


def test_bf16_autocast_moves_a_similarity_score_by_less_than_1e_2(clips):
    from metrics.clip_scores import clip_gt_score
    from metrics.features.clip import ClipBackbone, tiny_clip_config

    backbone = ClipBackbone.from_config(tiny_clip_config())
    generated, target = clips[0], clips[1]
    fp32 = clip_gt_score(backbone.embed_frames(generated), backbone.embed_frames(target))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # what `autocast` does on CUDA
        bf16 = clip_gt_score(backbone.embed_frames(generated), backbone.embed_frames(target))
    assert abs(bf16 - fp32) < 1e-2


@pytest.mark.parametrize("name", [n for n in METRICS.names() if METRICS.get(n).generated_only])
def test_a_metric_that_reads_only_generated_features_scores_without_the_ground_truths(name):
    """`Metric.generated_only` is the scorer's licence to skip the ground truth: it must hold."""
    metric = METRICS.create(name)
    assert set(metric.generated_only) <= set(metric.features)
    rng = np.random.default_rng(0)
    shapes = {"clip": (6, 16), "clip-text": (16,), "egovlp-text": (16,), "blip-large-captions": (6, 16),
              "blip-base-captions": (6, 16)}
    video = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    item = ScoredItem("s", "full", video, video, video[0], None, "cut carrot")
    for feature in metric.features:
        item.features[feature] = rng.normal(size=shapes[feature]).astype(np.float32)
        if feature not in metric.generated_only:
            item.target_features[feature] = rng.normal(size=shapes[feature]).astype(np.float32)
    assert math.isfinite(metric.score(item))


def test_measure_reports_each_backbone_and_the_suite_with_ratios():
    from benchmark.speed.evaluation import measure

    # The suite's CPU metrics (SSIM, optical flow) would dominate a tiny run: the backbones' metrics only.
    rows = measure("tiny", "cpu", 1, only=("clip", "egovlp", "suite"), metrics=["clip-gt", "clip-cs", "clip-tx", "egovlp"])
    keys = {"section", "name", "variant", "seconds_per_clip", "clips_per_second", "peak_memory_bytes", "flops_per_clip",
            "peak_flops_fraction", "ratio_vs_reference", "compile_seconds", "settings"}
    assert all(set(row) == keys and row["section"] == "evaluation" for row in rows)
    by = {(row["name"], row["variant"]): row for row in rows}
    assert {("clip", "reference"), ("clip", "batched"), ("clip", "bf16"), ("egovlp", "batched"), ("suite", "reference"),
            ("suite", "fast"), ("suite", "fast, ground truth cached")} <= set(by)
    for row in rows:
        assert row["seconds_per_clip"] > 0 and row["clips_per_second"] == pytest.approx(1 / row["seconds_per_clip"])
        assert row["peak_flops_fraction"] is None  # CPU
        assert row["compile_seconds"] is None
    assert by[("clip", "reference")]["ratio_vs_reference"] == 1.0
    assert by[("clip", "batched")]["flops_per_clip"] > 0
    assert by[("clip", "batched")]["settings"]["parity"]["max_relative_difference"] < 1e-5
    suite = by[("suite", "fast")]["settings"]
    assert suite["metrics"] == ["clip-gt", "clip-cs", "clip-tx", "egovlp"] and suite["scopes"] == ["full", "ma"]
    assert by[("suite", "fast")]["settings"]["sample_metric_cells_per_clip"] == 4 * 2
    # A further adapter reads the ground truth's features from the cache: about half the work.
    assert 0 < by[("suite", "fast, ground truth cached")]["flops_per_clip"] < by[("suite", "fast")]["flops_per_clip"]
    with pytest.raises(ValueError, match="unknown backbone"):
        measure("tiny", "cpu", 1, only=("clipp",))
