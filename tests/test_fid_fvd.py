"""FID and FVD: state, reduction, a set against itself, perturbations, small-set warnings."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from metrics.base import DistributionMetric, MetricUndefined, ScoredItem
from metrics.fid import FID
from metrics.frechet import frechet_distance_from_features
from metrics.fvd import FVD
from metrics.registry import create_metric

FRAMES, SIZE = 4, 8


def _item(sample_id: str, extractor: str, generated, target) -> ScoredItem:
    blank = np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8)
    return ScoredItem(
        sample_id, "full", blank, blank, blank[0], None, "cut carrot",
        features={extractor: generated}, target_features={extractor: target},
    )


def _fid_items(shift: float = 0.0, noise: float = 0.0, seed: int = 0, n: int = 12, dim: int = 16) -> list[ScoredItem]:
    """``n`` clips of ``FRAMES`` per-frame features; generated = target + shift + noise."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        target = rng.normal(size=(FRAMES, dim)).astype(np.float32)
        generated = target + shift + noise * np.random.default_rng(100 + i).normal(size=target.shape)
        items.append(_item(f"s{i}", "inception-pool3", generated.astype(np.float32), target))
    return items


def _fvd_items(shift: float = 0.0, seed: int = 0, n: int = 40, dim: int = 24) -> list[ScoredItem]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        target = rng.normal(size=dim).astype(np.float32)
        items.append(_item(f"s{i}", "i3d-logits", (target + shift).astype(np.float32), target))
    return items


def _score(metric: DistributionMetric, items: list[ScoredItem]) -> float:
    metric.reset()
    for item in items:
        metric.update(item)
    return metric.compute()


@pytest.mark.parametrize(("cls", "make"), [(FID, _fid_items), (FVD, _fvd_items)])
def test_a_set_against_itself_is_zero_and_a_perturbed_one_higher(cls, make):
    metric = cls()
    assert metric.higher_is_better is False and metric.level == "distribution"
    same = _score(metric, make())
    assert abs(same) < 1e-6
    shifted = _score(metric, make(shift=0.5))
    assert shifted > 0.1
    assert _score(metric, make(shift=1.0)) > shifted


def test_fid_pools_frames_and_equals_the_distance_of_all_frames():
    items = _fid_items(noise=0.3)
    gen = np.concatenate([i.features["inception-pool3"] for i in items])
    target = np.concatenate([i.target_features["inception-pool3"] for i in items])
    assert gen.shape == (12 * FRAMES, 16)
    assert _score(FID(), items) == pytest.approx(frechet_distance_from_features(gen, target), rel=1e-12)
    assert _score(FID(), _fid_items(noise=0.6)) > _score(FID(), items) > 0


def test_shards_merge_to_the_single_process_value():
    items = _fid_items(noise=0.3)
    whole = _score(FID(), items)
    first, second = FID(), FID()
    for item in items[:5]:
        first.update(item)
    for item in items[5:]:
        second.update(item)
    first.merge(second)
    assert first.compute() == pytest.approx(whole, rel=1e-12)
    with pytest.raises(TypeError, match="cannot merge"):
        first.merge(FVD())


def test_ground_truth_counts_once_per_sample():
    items = _fvd_items(shift=0.2)
    metric = FVD()
    for item in items + items[:10]:  # the same samples again, e.g. a second seed
        metric.update(item)
    assert len(metric.generated) == 50 and len(metric.target) == 40


def test_fvd_warns_below_256_videos(caplog):
    with caplog.at_level(logging.WARNING, logger="metrics.fvd"):
        _score(FVD(), _fvd_items(n=10))
    assert any("below 256 videos" in r.getMessage() for r in caplog.records)


def test_too_few_vectors_are_undefined_and_reset_forgets():
    metric = FID()
    for item in _fid_items(n=3):
        metric.update(item)
    metric.reset()
    with pytest.raises(MetricUndefined, match="at least 2"):
        metric.compute()
    metric.update(_fid_items(n=1)[0])
    metric.compute()  # 4 frames on each side are enough for FID
    fvd = FVD()
    fvd.update(_fvd_items(n=1)[0])
    with pytest.raises(MetricUndefined, match="2 clips"):
        fvd.compute()


@pytest.mark.parametrize("name", ["fid", "fvd"])
def test_registered_and_configs_record_the_protocol(name):
    metric = create_metric(name)
    config = metric.config()
    assert json.loads(json.dumps(config)) == config
    assert config["features"] == {"fid": "inception-pool3", "fvd": "i3d-logits"}[name]
    assert config["unit"] == {"fid": "frame", "fvd": "clip"}[name]


def test_fvd_end_to_end_with_a_random_i3d():
    """The whole chain on a random full-size I3D: identical sets score 0, noisy clips more."""
    from metrics.features.i3d import I3DLogitsExtractor

    extractor = I3DLogitsExtractor.from_config(num_frames=9)
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (9, 24, 24, 3), dtype=np.uint8) for _ in range(2)]
    noisy = [np.clip(c.astype(int) + rng.integers(-60, 61, c.shape), 0, 255).astype(np.uint8) for c in clips]
    logits = extractor.extract(clips + noisy)
    real, fake = logits[:2], logits[2:]
    blank = np.zeros((1, 4, 4, 3), np.uint8)

    def items(generated):
        return [
            ScoredItem(f"s{i}", "full", blank, blank, blank[0], None, "", {"i3d-logits": g}, {"i3d-logits": r})
            for i, (g, r) in enumerate(zip(generated, real))
        ]

    assert abs(_score(FVD(), items(real))) < 1e-6
    assert _score(FVD(), items(fake)) > 0
