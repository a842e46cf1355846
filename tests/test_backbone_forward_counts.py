"""Each backbone sees each frame once per scope; the ground truth is embedded once per split.

A real run (the runner, its scorer and feature cache) of 2 adapters × 3 samples × 2
scopes, with tiny real backbones whose networks carry forward hooks that count the
frames, clips and texts they are given (the hand landmarker's ``detect_video`` is
wrapped the same way: the real call runs and is counted). Inception and I3D have no
small variant and run through the same code path (one `FeatureExtractor.submit` per
extractor and batch), so they are left out of this fast test.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from benchmark.feature_cache import GROUND_TRUTH
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner
from benchmark.splits import InMemorySplit
from hcvg.registry import Registry
from tests.conftest import moving_square_sample

ADAPTERS, SAMPLES, SCOPES, FRAMES = 2, 3, 2, 15
METRICS = ["clip-gt", "clip-cs", "clip-tx", "egovlp", "blip-base", "hs-err", "hand-recall"]


class Counted:
    """Tiny real extractors whose networks count what they see."""

    def __init__(self, landmarker_path):
        from metrics.features.blip import BlipBaseCaptionsExtractor, BlipCaptioner, tiny_blip_config
        from metrics.features.clip import ClipBackbone, ClipImageExtractor, ClipTextExtractor, tiny_clip_config
        from metrics.features.egovlp import EgoVLPBackbone, EgoVLPTextExtractor, EgoVLPVideoExtractor, tiny_egovlp_config
        from metrics.features.hand_keypoints import HandKeypointsExtractor

        # Fresh backbones, not the process-wide tiny ones: the hooks must not outlive this test.
        clip = ClipBackbone.from_config(tiny_clip_config())
        egovlp = EgoVLPBackbone.from_config(tiny_egovlp_config())
        blip = BlipCaptioner.from_config(tiny_blip_config())
        hands = HandKeypointsExtractor(model_path=str(landmarker_path))
        self.extractors = {
            "clip": ClipImageExtractor(clip), "clip-text": ClipTextExtractor(clip),
            "egovlp": EgoVLPVideoExtractor(egovlp), "egovlp-text": EgoVLPTextExtractor(egovlp),
            "blip-base-captions": BlipBaseCaptionsExtractor(blip, egovlp), "hand-keypoints": hands,
        }
        self.seen: Counter = Counter()
        self.calls: Counter = Counter()
        self._hooks = [
            self._count(clip.model.vision_model, "clip frames", "pixel_values"),
            self._count(clip.model.text_model, "clip texts", "input_ids"),
            self._count(egovlp.model.video_model, "egovlp clips", "video"),
            self._count(blip.model.vision_model, "blip frames", "pixel_values"),
        ]
        detect_video = hands.detector.detect_video

        def counted_detect_video(frames, fps):
            self.seen["hand frames"] += len(frames)
            self.calls["hand clips"] += 1
            return detect_video(frames, fps)

        hands.detector.detect_video = counted_detect_video

    def _count(self, module, label: str, argument: str):
        def hook(_module, args, kwargs):
            given = kwargs.get(argument, args[0] if args else None)
            self.seen[label] += int(given.shape[0])
            self.calls[label] += 1

        return module.register_forward_pre_hook(hook, with_kwargs=True)

    def registry(self) -> Registry:
        registry = Registry("feature extractor")
        for name, extractor in self.extractors.items():
            registry.register(name, lambda e=extractor: e)
        return registry

    def close(self) -> None:
        for handle in self._hooks:
            handle.remove()


@pytest.fixture
def counted(landmarker_path):
    counted = Counted(landmarker_path)
    yield counted
    counted.close()


def run(tmp_path, counted: Counted, resume: bool = False):
    samples = [moving_square_sample(f"sq-{i}", seed=i) for i in range(SAMPLES)]
    splits = Registry("split")
    splits.register("squares", lambda: InMemorySplit("squares", samples))
    config = RunConfig(out=tmp_path / "run", adapters=[ComponentSpec("static"), ComponentSpec("oracle")],
                       splits=[ComponentSpec("squares")], metrics=METRICS, scopes=["full", "ma"], batch_size=8)
    return Runner(config, resume=resume, splits=splits, features=counted.registry(), progress=False).run()


def test_each_frame_once_per_scope_and_backbone_and_the_ground_truth_once_per_split(tmp_path, counted):
    result = run(tmp_path, counted)
    assert [f for f in result.failures if f.get("stage") != "metric-setup"] == []
    assert set(result.summary.metric) == set(METRICS)
    clips_once = (ADAPTERS * SAMPLES + SAMPLES) * SCOPES  # every generated clip and each GT clip, per scope
    assert counted.seen["clip frames"] == clips_once * FRAMES
    assert counted.seen["egovlp clips"] == clips_once
    assert counted.seen["hand frames"] == clips_once * FRAMES and counted.calls["hand clips"] == clips_once
    # The BLIP score reads only the generated clip's captions: the ground truth is never captioned.
    assert counted.seen["blip frames"] == ADAPTERS * SAMPLES * SCOPES * FRAMES
    # A prompt is embedded once for every scope and adapter.
    assert counted.seen["clip texts"] == SAMPLES
    # One forward call per backbone and adapter batch: both scopes, generated and GT together.
    assert counted.calls["egovlp clips"] == ADAPTERS
    assert counted.calls["hand clips"] == clips_once

    features = tmp_path / "run" / "features"
    for name in ("clip", "egovlp", "hand-keypoints"):
        for scope in ("full", "ma"):
            assert len(list(features.glob(f"{name}/*/{scope}/{GROUND_TRUTH}/squares/*.npy"))) == SAMPLES
    assert not list(features.glob(f"blip-base-captions/*/*/{GROUND_TRUTH}/**/*.npy"))


def test_a_resumed_run_embeds_nothing_again(tmp_path, counted):
    run(tmp_path, counted)
    counted.seen.clear()
    result = run(tmp_path, counted, resume=True)
    assert result.computed_cells == 0 and result.complete
    assert sum(counted.seen.values()) == 0


def test_scores_do_not_depend_on_how_the_backbones_were_batched(tmp_path, counted):
    """The batch of 8 (one call per backbone and adapter) scores as batches of one clip do."""
    together = run(tmp_path / "together", counted).scores
    samples = [moving_square_sample(f"sq-{i}", seed=i) for i in range(SAMPLES)]
    splits = Registry("split")
    splits.register("squares", lambda: InMemorySplit("squares", samples))
    config = RunConfig(out=tmp_path / "alone", adapters=[ComponentSpec("static"), ComponentSpec("oracle")],
                       splits=[ComponentSpec("squares")], metrics=METRICS, scopes=["full", "ma"], batch_size=1)
    alone = Runner(config, splits=splits, features=counted.registry(), progress=False).run().scores
    key = ["adapter", "sample_id", "metric", "scope"]
    merged = together.merge(alone, on=key, suffixes=("_together", "_alone"))
    assert len(merged) == len(together) == len(alone) == ADAPTERS * SAMPLES * SCOPES * len(METRICS)
    np.testing.assert_allclose(merged.value_together, merged.value_alone, rtol=1e-5, atol=1e-6)
