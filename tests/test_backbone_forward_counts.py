"""Each backbone sees each frame once per scope; the ground truth is embedded once per split.

A real run (the runner, its scorer and feature cache) of 2 adapters × 3 samples × 2
scopes, with tiny real backbones whose networks carry forward hooks that count the
frames, clips and texts they are given (the hand landmarker's ``detect_video`` is
wrapped the same way: the real call runs and is counted). Inception and I3D have no
small variant and run through the same code path (one `FeatureExtractor.submit` per
extractor and batch), so they are left out of this fast test.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from benchmark.feature_cache import GROUND_TRUTH
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.runner import Runner
from benchmark.splits import InMemorySplit
from hcvg.registry import Registry
from tests.conftest import moving_square_sample

ADAPTERS, SAMPLES, SCOPES, FRAMES = 2, 3, 2, 4  # 4-frame clips keep it fast
METRICS = ["clip-gt", "clip-cs", "clip-tx", "egovlp", "blip-base", "hs-err"]


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


@pytest.fixture(scope="module")
def counted(landmarker_path):
    counted = Counted(landmarker_path)
    yield counted
    counted.close()


def run(out, counted: Counted, resume: bool = False, batch_size: int = 8):
    samples = [moving_square_sample(f"sq-{i}", num_frames=FRAMES, seed=i) for i in range(SAMPLES)]
    splits = Registry("split")
    splits.register("squares", lambda: InMemorySplit("squares", samples))
    config = RunConfig(out=out, adapters=[ComponentSpec("static"), ComponentSpec("oracle")], splits=[ComponentSpec("squares")],
                       metrics=METRICS, scopes=["full", "ma"], batch_size=batch_size, num_frames=FRAMES)
    counted.seen.clear()
    counted.calls.clear()
    result = Runner(config, resume=resume, splits=splits, features=counted.registry(), progress=False).run()
    return result, dict(counted.seen), dict(counted.calls)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, counted):
    out = tmp_path_factory.mktemp("counted") / "run"
    return out, *run(out, counted)


def test_each_frame_once_per_scope_and_backbone_and_the_ground_truth_once_per_split(first_run, counted):
    out, result, seen, calls = first_run
    assert [f for f in result.failures if f.get("stage") != "metric-setup"] == []
    assert set(result.summary.metric) == set(METRICS)
    clips_once = (ADAPTERS * SAMPLES + SAMPLES) * SCOPES  # every generated clip and each GT clip, per scope
    assert seen["clip frames"] == clips_once * FRAMES
    assert seen["egovlp clips"] == clips_once
    assert seen["hand frames"] == clips_once * FRAMES and calls["hand clips"] == clips_once
    # The BLIP score reads only the generated clip's captions: the ground truth is never captioned.
    assert seen["blip frames"] == ADAPTERS * SAMPLES * SCOPES * FRAMES
    # A prompt is embedded once for every scope and adapter.
    assert seen["clip texts"] == SAMPLES
    # The runner's batch goes to a backbone in one call, both scopes and both sides together,
    # cut only by the backbone's own batch size (EgoVLP: 8 clips a forward pass).
    first, second = SAMPLES * SCOPES * 2, SAMPLES * SCOPES  # the second adapter reads the GT from the cache
    batch = counted.extractors["egovlp"].backbone.video_batch_size
    assert calls["egovlp clips"] == math.ceil(first / batch) + math.ceil(second / batch)

    features = out / "features"
    for name in ("clip", "egovlp", "hand-keypoints"):
        for scope in ("full", "ma"):
            assert len(list(features.glob(f"{name}/*/{scope}/{GROUND_TRUTH}/squares/*.npy"))) == SAMPLES
    assert not list(features.glob(f"blip-base-captions/*/*/{GROUND_TRUTH}/**/*.npy"))


def test_a_resumed_run_embeds_nothing_again(first_run, counted):
    out = first_run[0]
    result, seen, _ = run(out, counted, resume=True)
    assert result.computed_cells == 0 and result.complete
    assert sum(seen.values()) == 0


def test_scores_do_not_depend_on_how_the_backbones_were_batched(first_run, counted, tmp_path):
    """The batch of 8 (one call per backbone and adapter) scores as batches of one clip do."""
    together = first_run[1].scores
    alone = run(tmp_path / "alone", counted, batch_size=1)[0].scores
    key = ["adapter", "sample_id", "metric", "scope"]
    merged = together.merge(alone, on=key, suffixes=("_together", "_alone"))
    assert len(merged) == len(together) == len(alone) == ADAPTERS * SAMPLES * SCOPES * len(METRICS)
    np.testing.assert_allclose(merged.value_together, merged.value_alone, rtol=1e-5, atol=1e-6)
